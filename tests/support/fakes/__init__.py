"""Faithful local fakes of provider endpoints (Google Calendar v3 and its OAuth endpoints, Microsoft
Graph, the Microsoft identity platform), driven by the real client libraries."""
