"""The browser client: templates and static ES modules served by Django."""
