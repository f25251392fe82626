"""The sync's decisions: intake of host records, the gates, history and contact sync, admin
actions."""
