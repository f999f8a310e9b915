"""The API: REST, the alerts websocket and the clinician workspace (api.web), for staff (DESIGN 6).

Public surface: `create_app` (app.py), `AlertFeed` (feed.py), `authenticate` and `Principal`
(auth.py). The app is assembled by the composition root; nothing here reads settings.
"""
