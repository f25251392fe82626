"""What the host and the admin hand the add-on: host records and settings, validated once."""
