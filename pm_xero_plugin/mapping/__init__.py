"""Host record + settings -> Xero payload: what to send, spelled as Xero's spec wants it."""
