"""The control room's panels, one file each, each with its DEFAULT_CSS; they post `tui.messages`."""
