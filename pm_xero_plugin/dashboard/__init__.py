"""What an admin or operator sees: sync_status, the start-date preview, filtered rows, the terminal
rendering."""
