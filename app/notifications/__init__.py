"""Notifications: who liked, commented, mentioned, followed, asked to follow or shared."""
