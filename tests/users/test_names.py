"""Nobody may take a name that passes for another account's username, for staff or for a
guest, nor one that looks blank (hardening 17): on registration, the profile (REST, the web
page, the admin) and the socket, for accounts and guests alike."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.test import Client
from rest_framework.test import APIClient

from users.models import User

from .conftest import PASSWORD


def patch_me(user: User, **fields: Any) -> Any:
    client = APIClient()
    client.force_authenticate(user)
    return client.patch("/api/v1/users/me", fields, format="json")


@pytest.mark.parametrize(
    "name", ["\u0430lice", "ALlCE", "a l i c e", "\uff21\uff4c\uff49\uff43\uff45"]
)
def test_a_display_name_that_passes_for_another_accounts_username_is_refused(
    make_user: Callable[..., User], name: str
) -> None:
    make_user("alice")
    mallory = make_user("mallory")
    response = patch_me(mallory, display_name=name)
    assert response.status_code == 400
    assert "looks like another player" in str(response.json()["fields"]["display_name"])
    mallory.refresh_from_db()
    assert mallory.display_name == ""


@pytest.mark.parametrize("name", ["bobsmithexv\u2122", "bob\u2219smithexv", "bob+smithexv"])
def test_symbols_do_not_disguise_another_accounts_username(
    make_user: Callable[..., User], name: str
) -> None:
    make_user("bobsmithexv")
    mallory = make_user("mallory")
    response = patch_me(mallory, display_name=name)
    assert response.status_code == 400
    assert "looks like another player" in str(response.json()["fields"]["display_name"])


@pytest.mark.parametrize("name", ["\u4e00\u90ce", "\u30d4\u30a2\u30ce\u30fc", "Ann \u2605"])
def test_names_with_symbols_or_dash_like_letters_are_otherwise_fine_over_rest(
    make_user: Callable[..., User], name: str
) -> None:
    make_user("bobsmithexv")
    alice = make_user("alice")
    assert patch_me(alice, display_name=name).status_code == 200


def test_a_player_may_show_their_own_username_in_another_case(
    make_user: Callable[..., User],
) -> None:
    alice = make_user("alice")
    assert patch_me(alice, display_name="ALICE").status_code == 200


@pytest.mark.parametrize(
    "name",
    [
        "Moderator",
        "\u041c\u043ed\u0435r\u0430t\u043er",
        "\u3164",
        "Guest-1a2b",
        "Guest\u25001a2b",  # box drawings light horizontal
        "Guest\u23af1a2b",  # horizontal line extension
        "Guest\u30fc1a2b",  # the katakana prolonged sound mark
        "Guest\u4e001a2b",  # the ideograph one
        "Guest+1a2b",
        "Guest~1a2b",
        "Guest=1a2b",
        "admin\u2122",
    ],
)
def test_reserved_and_blank_display_names_are_refused_over_rest(
    make_user: Callable[..., User], name: str
) -> None:
    assert patch_me(make_user(), display_name=name).status_code == 400


def test_registering_a_look_alike_of_an_existing_username_is_refused(
    make_user: Callable[..., User], api_client: APIClient
) -> None:
    make_user("alice")
    for username in ("a1ice", "ALlCE"):
        response = api_client.post(
            "/api/v1/auth/register", {"username": username, "password": PASSWORD}, format="json"
        )
        assert response.status_code in (400, 409), username
    response = api_client.post(
        "/api/v1/auth/register",
        {"username": "bob", "password": PASSWORD, "display_name": "\u0430lice"},
        format="json",
    )
    assert response.status_code == 400
    assert "display_name" in response.json()["fields"]
    assert not User.objects.filter(username="bob").exists()


def test_the_profile_page_refuses_a_look_alike_name(make_user: Callable[..., User]) -> None:
    make_user("alice")
    make_user("mallory")
    browser = Client()
    assert browser.login(username="mallory", password=PASSWORD)
    response = browser.post(
        "/accounts/profile/", {"display_name": "\u0430lice", "color": "#123456"}
    )
    assert response.status_code == 200  # the form again, with the error
    assert "looks like another player" in response.content.decode()
    assert User.objects.get(username="mallory").display_name == ""


def test_name_keys_follow_username_changes(make_user: Callable[..., User]) -> None:
    user = make_user("alice")
    assert user.name_key == "allce"
    user.username = "rnary"
    user.save(update_fields=["username"])
    assert User.objects.get(pk=user.pk).name_key == "mary"


def test_a_migration_makes_name_keys_made_before_symbols_were_dropped_again(
    make_user: Callable[..., User],
) -> None:
    user = make_user("bob+smithexv")  # createsuperuser allows "+", registration does not
    User.objects.filter(pk=user.pk).update(name_key="bob+smlthexv")  # its key before
    migration = importlib.import_module("users.migrations.0005_name_keys_drop_symbols")
    migration.refill_name_keys(apps, None)
    assert User.objects.get(pk=user.pk).name_key == "bobsmlthexv"
