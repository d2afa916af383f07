from django.urls import URLPattern, URLResolver

api_patterns: list[URLPattern | URLResolver] = []
