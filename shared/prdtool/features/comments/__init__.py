"""Comments: threads anchored in the text that follow it through every edit, with mentions."""
