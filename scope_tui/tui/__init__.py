"""The Textual control room."""
