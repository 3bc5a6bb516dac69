"""Responses no browser or proxy keeps: every page the service renders (signed in or not) is
`Cache-Control: no-store`, so a child's data never stays in a shared computer's cache or a
proxy's. The stylesheets and scripts WhiteNoise serves before this runs keep their own caching."""
from __future__ import annotations

from django.utils.cache import add_never_cache_headers


class NeverCache:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        add_never_cache_headers(response)
        return response
