"""Problem codes and documents, shared by the API (HTTP answers) and the workers (run errors). Pure."""
