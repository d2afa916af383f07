"""The registry of room settings agrees with everything built by hand around it: the protocol's
RoomSettings, the Room model and the rules' RoomView; and what is derived from it (the REST
serializers, the admin, the snapshot, the web form) covers every setting."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.test import Client
from google.protobuf.descriptor import FieldDescriptor

from realtime.messages import RoomSnapshot
from realtime.proto.pianorhythm.v1 import protocol_pb2 as pb
from rooms import rules, services
from rooms.admin import RoomAdmin
from rooms.models import Room
from rooms.room_settings import (
    BOOLEAN_SETTINGS,
    READABLE_SETTINGS,
    ROOM_SETTINGS,
    SETTINGS_BY_NAME,
    RoomSetting,
)
from rooms.serializers import RoomSettingsInputSerializer, RoomSettingsSerializer

PROTO_TYPES = {
    bool: {FieldDescriptor.TYPE_BOOL},
    int: {FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_INT32},
    str: {FieldDescriptor.TYPE_STRING},
}
MODEL_FIELDS: dict[type, type[models.Field[Any, Any]]] = {
    bool: models.BooleanField,
    int: models.IntegerField,  # PositiveSmallIntegerField is one
    str: models.CharField,
}


def test_the_protocols_room_settings_are_the_registrys() -> None:
    fields = pb.RoomSettings.DESCRIPTOR.fields
    assert [field.name for field in fields] == [setting.name for setting in ROOM_SETTINGS]
    for field in fields:
        setting = SETTINGS_BY_NAME[field.name]
        assert field.type in PROTO_TYPES[setting.type], field.name
        # optional: an update carries only the settings it changes.
        assert field.has_presence, f"{field.name} must be `optional` in the .proto"


@pytest.mark.parametrize("setting", ROOM_SETTINGS, ids=lambda setting: setting.name)
def test_the_room_model_stores_each_readable_setting(setting: RoomSetting) -> None:
    if not setting.readable:
        assert setting.name not in {field.name for field in Room._meta.get_fields()}
        return
    field = Room._meta.get_field(setting.name)
    assert isinstance(field, MODEL_FIELDS[setting.type])
    assert field.get_default() == setting.default
    if setting.max_length is not None:
        assert field.max_length == setting.max_length
    if setting.min_value is not None:
        # The database may add its own range (PostgreSQL does): the registry's is among them.
        lows = {v.limit_value for v in field.validators if isinstance(v, MinValueValidator)}
        highs = {v.limit_value for v in field.validators if isinstance(v, MaxValueValidator)}
        assert setting.min_value in lows
        assert setting.max_value in highs


def test_a_new_room_has_the_registrys_defaults(db: None) -> None:
    room = Room.objects.create(name="Defaults")
    assert {name: getattr(room, name) for name in READABLE_SETTINGS} == {
        setting.name: setting.default for setting in ROOM_SETTINGS if setting.readable
    }


@pytest.mark.parametrize("setting", ROOM_SETTINGS, ids=lambda setting: setting.name)
def test_every_setting_has_a_rule_and_its_default_passes_it(setting: RoomSetting) -> None:
    cleaned = rules.validate_room_settings({setting.name: setting.default})
    assert cleaned == {setting.name: setting.default}


def test_the_rules_view_defaults_to_the_registrys_defaults() -> None:
    view = rules.RoomView()
    assert rules.VIEWED_SETTINGS
    for setting in rules.VIEWED_SETTINGS:
        assert getattr(view, setting.name) == setting.default, setting.name


def test_rest_serializers_cover_the_settings_in_the_protocols_order() -> None:
    assert list(RoomSettingsSerializer().fields) == list(READABLE_SETTINGS)
    written = RoomSettingsInputSerializer().fields
    assert list(written) == [setting.name for setting in ROOM_SETTINGS]
    assert written["password"].write_only


def test_the_admin_edits_every_readable_setting() -> None:
    shown = {name for _, options in RoomAdmin.fieldsets for name in options["fields"]}
    assert set(READABLE_SETTINGS) <= shown


def test_a_snapshot_carries_and_views_the_settings_as_the_room_does(
    make_room: Callable[..., Room],
) -> None:
    room = make_room("Snap", only_owner_can_chat=True, chat_enabled=False, max_members=7)
    snapshot = RoomSnapshot.of(room)
    assert list(snapshot.settings) == list(READABLE_SETTINGS)
    assert snapshot.view() == services.room_view(room)
    sent = snapshot.to_proto(member_count=0).settings
    assert {field.name for field, _ in sent.ListFields()} == set(READABLE_SETTINGS)


def test_the_room_page_has_a_checkbox_for_every_on_off_setting(db: None) -> None:
    page = Client().get("/r/Jazz").content.decode()
    for name in BOOLEAN_SETTINGS:
        label = SETTINGS_BY_NAME[name].label
        assert f'<input type="checkbox" name="{name}" data-setting> {label}</label>' in page
