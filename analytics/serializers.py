"""Shapes of the statistics REST API (read-only)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class DayActivitySerializer(serializers.Serializer[Any]):
    date = serializers.DateField()
    notes = serializers.IntegerField()
    messages = serializers.IntegerField()
    seconds = serializers.IntegerField()
    joins = serializers.IntegerField()


class PlayerStatsSerializer(serializers.Serializer[Any]):
    """A player's totals and their last 30 days, oldest first."""

    username = serializers.CharField(source="user.username")
    display_name = serializers.CharField(source="user.shown_name")
    notes_played = serializers.IntegerField()
    chat_messages = serializers.IntegerField()
    seconds_in_rooms = serializers.IntegerField()
    rooms_joined = serializers.IntegerField()
    sessions = serializers.IntegerField()
    last_seen = serializers.DateTimeField(allow_null=True)
    days = DayActivitySerializer(many=True)


class TotalsSerializer(serializers.Serializer[Any]):
    notes = serializers.IntegerField()
    messages = serializers.IntegerField()
    seconds = serializers.IntegerField()
    joins = serializers.IntegerField()


class LiveNumbersSerializer(serializers.Serializer[Any]):
    """This server process's live numbers (each instance answers with its own)."""

    connections = serializers.IntegerField()
    rooms = serializers.IntegerField()
    members = serializers.IntegerField()
    notes_per_second = serializers.FloatField()


class SiteStatsSerializer(serializers.Serializer[Any]):
    totals = TotalsSerializer()
    today = DayActivitySerializer()
    registered_users = serializers.IntegerField()
    rooms = serializers.IntegerField()
    live = LiveNumbersSerializer()


class LeaderboardRowSerializer(serializers.Serializer[Any]):
    rank = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    color = serializers.CharField()
    value = serializers.IntegerField()


class LeaderboardSerializer(serializers.Serializer[Any]):
    metric = serializers.CharField()
    results = LeaderboardRowSerializer(many=True)
