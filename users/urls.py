from django.urls import URLPattern, URLResolver

api_patterns: list[URLPattern | URLResolver] = []
page_patterns: list[URLPattern | URLResolver] = []
