"""Model providers: the official SDKs behind one small chat interface (`chat.py`)."""
