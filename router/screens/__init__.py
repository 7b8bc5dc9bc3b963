"""The people's screens in the browser: the agent desk (/desk/) and the supervisor wall (/wall/),
plain files served by the daemon; sign-in with an API token turned into a session cookie, the
cookie's authentication of the API with a CSRF header, and the wall's live feed from the
daemon's event fan-out."""
