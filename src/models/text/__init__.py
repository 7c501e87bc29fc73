"""Feedback text models: sentiment, topics, urgency and the classify pipeline (Chinese + English)."""
