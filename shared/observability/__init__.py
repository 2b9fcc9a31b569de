"""What logs and metrics of both processes share: the JSON log line and the fields it carries."""
