"""The web app for people (clients and shop owners): server-rendered pages on the services.

``webapp/`` holds the foundation every page builds on (cookie sessions, CSRF, security
headers, rendering and form errors, the HTML error and mode pages) and the pages
themselves. The operator console (``/ops``) is ``chairside.web``, a separate thing.
"""
