from rest_framework import serializers


class TicketSerializer(serializers.Serializer[dict[str, object]]):
    ticket = serializers.CharField(help_text="Pass as ?ticket= when opening /ws/.")
    expires_in = serializers.IntegerField(help_text="Seconds the ticket stays valid.")
