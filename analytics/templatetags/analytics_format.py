from django import template

register = template.Library()


@register.filter
def duration_hm(seconds: int) -> str:
    """``3725`` → ``1 h 2 min``; under an hour, minutes only."""
    minutes = int(seconds) // 60
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
