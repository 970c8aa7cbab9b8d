"""Faithful local fakes of provider endpoints (Microsoft Graph, the Microsoft identity platform)."""
