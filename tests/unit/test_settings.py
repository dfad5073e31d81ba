"""Settings come from the environment the template gives each function; each default is written
once, on the field, and an unset or empty variable keeps it."""

from __future__ import annotations

from dataclasses import fields

from prdtool.kernel.settings import _VARIABLES, Settings


def test_every_setting_is_read_from_a_variable() -> None:
    assert set(_VARIABLES) | {"connections_table"} == {f.name for f in fields(Settings)}


def test_unset_and_empty_variables_keep_the_defaults() -> None:
    assert Settings.from_env({"CONNECTIONS_TABLE": "c"}) == Settings("c")
    assert Settings.from_env({"CONNECTIONS_TABLE": "c", "AI_MODEL": "", "PING_INTERVAL_MS": ""}) == Settings("c")


def test_values_are_read_as_their_fields_types() -> None:
    s = Settings.from_env(
        {
            "CONNECTIONS_TABLE": "c",
            "PING_INTERVAL_MS": "5000",
            "AI_TIMEOUT_S": "2.5",
            "AI_MODEL": "m",
            "STAGE_NAME": "dev",
        }
    )
    assert (s.ping_interval_ms, s.ai_timeout_s, s.ai_model, s.stage) == (5000, 2.5, "m", "dev")


def test_the_first_variable_set_wins() -> None:
    both = {"CONNECTIONS_TABLE": "c", "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-west-2"}
    assert Settings.from_env(both).region == "eu-west-1"
    assert Settings.from_env({"CONNECTIONS_TABLE": "c", "AWS_DEFAULT_REGION": "us-west-2"}).region == "us-west-2"
    endpoint = {"CONNECTIONS_TABLE": "c", "AWS_ENDPOINT_URL": "http://a", "AWS_ENDPOINT_URL_DYNAMODB": "http://d"}
    assert Settings.from_env(endpoint).dynamodb_endpoint == "http://d"
