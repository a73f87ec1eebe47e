"""The config file (CONTRACT §2) and `run.py check` (CONTRACT §1): typed loading, every problem
with its key path at once, environment overrides, secrets and catalog CSV files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.infra.config import ConfigError, load_config

PROJECT = Path(__file__).resolve().parents[1]

# The minimal config of CONTRACT §2, verbatim.
CONTRACT_CONFIG = """
[gateway]
data_dir = "var"                    # SQLite database and other state live here

[http]
host = "127.0.0.1"
port = 8080

[mqtt]
url = "mqtt://127.0.0.1:1883"       # or "embedded": an in-process broker for single-box use
topic_prefix = "dropship"

[[suppliers]]
id = "sup-a"                        # [a-z0-9-]{1,40}, unique
name = "Supplier A"
adapter = "http_json"               # a supplier adapter plugin's name
url = "http://127.0.0.1:9101"
regions = ["CN-ZJ", "CN-SH"]        # ISO 3166-2 codes it ships to; ["*"] = everywhere
webhook_secret = "env:SUP_A_SECRET" # shared secret for its shipment callbacks (optional)

[[catalog]]                         # which supplier carries which SKU; a CSV file can be
sku = "SKU-1"                       # given instead with [routing].catalog_files = ["x.csv"]
supplier = "sup-a"                  # (columns: sku,supplier,cost,stock,priority)
cost = "12.50"                      # decimal string, unit cost in the order's currency
stock = 1000                        # known available units; adapters may refresh it
priority = 1                        # lower = preferred

[routing]
strategy = "cost"                   # "cost" | "priority" | "score"
split = "allow"                     # "allow" | "never" | "minimize"
"""

SECRETS = {"SUP_A_SECRET": "s3cret"}

TWO_SUPPLIERS = """
[[suppliers]]
id = "sup-a"
name = "A"
url = "http://127.0.0.1:9101"
regions = ["CN-ZJ"]

[[suppliers]]
id = "sup-b"
name = "B"
url = "http://127.0.0.1:9102"
regions = ["*"]
"""


def write(directory: Path, text: str, name: str = "gateway.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Load a config that must fail; its problems as {key path: message}."""
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={} if environ is None else environ)
    problems = caught.value.problems
    keyed = {p.key_path(): p.message for p in problems}
    assert len(keyed) == len(problems), "two problems at one key path"
    return keyed


# -- a valid config ---------------------------------------------------------------------------


def test_contract_minimal_config_loads_with_typed_values(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONTRACT_CONFIG), environ=SECRETS)

    assert config.gateway.data_dir == "var"
    assert (config.http.host, config.http.port) == ("127.0.0.1", 8080)
    assert config.mqtt.url == "mqtt://127.0.0.1:1883"
    assert config.mqtt.topic_prefix == "dropship"
    [supplier] = config.suppliers
    assert supplier.id == "sup-a"
    assert supplier.adapter == "http_json"
    assert supplier.regions == ["CN-ZJ", "CN-SH"]
    assert supplier.webhook_secret == "s3cret"
    [entry] = config.catalog
    assert (entry.sku, entry.supplier, entry.stock, entry.priority) == ("SKU-1", "sup-a", 1000, 1)
    assert entry.unit_cost == Decimal("12.50")
    assert isinstance(entry.unit_cost, Decimal)
    assert (config.routing.strategy, config.routing.split) == ("cost", "allow")
    assert config.supplier("sup-a") is supplier
    assert config.supplier("sup-z") is None


def test_keys_left_out_take_their_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONTRACT_CONFIG), environ=SECRETS)

    assert config.gateway.shutdown_grace_s == 10.0  # CONTRACT §1
    assert config.suppliers[0].enabled is True
    assert config.suppliers[0].max_in_flight == 8
    assert config.log.level == "info"


def test_an_empty_file_is_a_config_of_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ={})

    assert config.http.port == 8080
    assert config.suppliers == []
    assert config.catalog == []
    assert config.routing.strategy == "cost"


@pytest.mark.parametrize("url", ["embedded", "mqtt://broker:1883", "mqtts://broker:8883"])
def test_accepted_mqtt_urls(tmp_path: Path, url: str) -> None:
    config = load_config(write(tmp_path, f'[mqtt]\nurl = "{url}"\n'), environ={})

    assert config.mqtt.url == url


# -- problems, with key paths, all at once ----------------------------------------------------


def test_unknown_key_is_an_error_with_its_path(tmp_path: Path) -> None:
    """A typo must not silently leave the default in place."""
    path = write(tmp_path, "[http]\nprot = 8081\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    assert str(caught.value) == "http.prot: unknown field"


@pytest.mark.parametrize(
    ("text", "key_path"),
    [
        ("colour = 1\n", "colour"),
        ("[nope]\nx = 1\n", "nope"),
        (TWO_SUPPLIERS + "max_inflight = 3\n", "suppliers[1].max_inflight"),
        ('[routing]\ncatalog_file = "x.csv"\n', "routing.catalog_file"),
    ],
)
def test_unknown_keys_anywhere(tmp_path: Path, text: str, key_path: str) -> None:
    assert problems_of(write(tmp_path, text)) == {key_path: "unknown field"}


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[http]
prot = 1
port = 99999

[[suppliers]]
id = "sup-a"
name = "A"
url = "http://a.example"
regions = ["CN-ZJ"]

[[suppliers]]
id = "Sup_B"
name = "B"
url = "not a url"
regions = ["CN-XX"]
max_in_flight = 0

[[catalog]]
sku = "SKU-1"
supplier = "sup-z"
cost = 12.5
stock = -1

[routing]
strategy = "cheapest"
""",
    )

    problems = problems_of(path)

    assert set(problems) == {
        "http.prot",
        "http.port",
        "suppliers[1].id",
        "suppliers[1].url",
        "suppliers[1].regions[0]",
        "suppliers[1].max_in_flight",
        "catalog[0].supplier",
        "catalog[0].cost",
        "catalog[0].stock",
        "routing.strategy",
    }
    assert problems["suppliers[1].url"] == "not a valid URL"
    assert problems["catalog[0].supplier"] == "no supplier 'sup-z'"
    assert problems["catalog[0].cost"] == (
        'expected a non-negative decimal amount as a string, such as "19.90"'
    )
    assert "starting with a letter or digit" in problems["suppliers[1].id"]


def test_config_error_text_is_one_line_per_problem(tmp_path: Path) -> None:
    path = write(tmp_path, '[http]\nprot = 1\n[routing]\nsplit = "sometimes"\n')

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    lines = str(caught.value).splitlines()
    assert len(lines) == 2
    assert lines[0] == "http.prot: unknown field"
    assert lines[1].startswith("routing.split: ")


@pytest.mark.parametrize("url", ["not a url", "ftp://host/x", "http://", "127.0.0.1:9101"])
def test_supplier_url_must_be_http(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, TWO_SUPPLIERS.replace("http://127.0.0.1:9102", url))

    assert problems_of(path) == {"suppliers[1].url": "not a valid URL"}


def test_duplicate_supplier_ids(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_SUPPLIERS.replace('"sup-b"', '"sup-a"'))

    assert problems_of(path) == {"suppliers[1].id": "duplicate supplier id 'sup-a'"}


def test_catalog_entry_naming_an_unknown_supplier(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        TWO_SUPPLIERS
        + '[[catalog]]\nsku = "S"\nsupplier = "sup-a"\ncost = "1"\nstock = 1\n'
        + '[[catalog]]\nsku = "S"\nsupplier = "sup-c"\ncost = "1"\nstock = 1\n',
    )

    assert problems_of(path) == {"catalog[1].supplier": "no supplier 'sup-c'"}


def test_a_sku_listed_twice_for_one_supplier(tmp_path: Path) -> None:
    entry = '[[catalog]]\nsku = "S"\nsupplier = "sup-a"\ncost = "1"\nstock = 1\n'
    path = write(tmp_path, TWO_SUPPLIERS + entry + entry)

    assert problems_of(path) == {"catalog[1]": "SKU 'S' listed twice for supplier 'sup-a'"}


@pytest.mark.parametrize("region", ["CN-XX", "Mars", "cn-zj", "", "CN-", "US-ABCD"])
def test_invalid_region_codes(tmp_path: Path, region: str) -> None:
    path = write(
        tmp_path, TWO_SUPPLIERS.replace('regions = ["*"]', f'regions = ["CN", "{region}"]')
    )

    problems = problems_of(path)

    assert list(problems) == ["suppliers[1].regions[1]"]
    assert "is not an ISO 3166-2 code" in problems["suppliers[1].regions[1]"]


@pytest.mark.parametrize("regions", ['["*"]', '["CN"]', '["CN-ZJ", "CN-SH"]', '["US-CA", "DE"]'])
def test_valid_region_patterns(tmp_path: Path, regions: str) -> None:
    path = write(tmp_path, TWO_SUPPLIERS.replace('regions = ["*"]', f"regions = {regions}"))

    assert load_config(path, environ={}).suppliers[1].regions == json.loads(regions)


def test_a_supplier_needs_at_least_one_region(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_SUPPLIERS.replace('regions = ["*"]', "regions = []"))

    assert list(problems_of(path)) == ["suppliers[1].regions"]


def test_bad_mqtt_url(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nurl = "http://broker"\n')

    assert list(problems_of(path)) == ["mqtt.url"]


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[http\nport = 1\n")

    problems = problems_of(path)

    assert list(problems) == ["(top level)"]
    assert "not valid TOML" in problems["(top level)"]
    assert "line 1" in problems["(top level)"]


def test_missing_file(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "absent.toml")

    assert list(problems) == ["(top level)"]
    assert "absent.toml" in problems["(top level)"]
    assert "does not exist" in problems["(top level)"]


# -- environment overrides --------------------------------------------------------------------


def test_env_override_of_a_section_key_is_typed(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, CONTRACT_CONFIG), environ={**SECRETS, "GATEWAY__HTTP__PORT": "8081"}
    )

    assert config.http.port == 8081


def test_env_override_of_a_key_left_out_of_the_file(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, ""),
        environ={"GATEWAY__HTTP__HOST": "0.0.0.0", "GATEWAY__LOG__LEVEL": "debug"},
    )

    assert config.http.host == "0.0.0.0"
    assert config.log.level == "debug"


def test_env_override_indexes_arrays_of_tables(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, TWO_SUPPLIERS),
        environ={
            "GATEWAY__SUPPLIERS__0__MAX_IN_FLIGHT": "3",
            "GATEWAY__SUPPLIERS__1__ENABLED": "false",
            "GATEWAY__SUPPLIERS__1__REGIONS": '["CN-BJ"]',
        },
    )

    assert config.suppliers[0].max_in_flight == 3
    assert config.suppliers[1].max_in_flight == 8
    assert config.suppliers[1].enabled is False
    assert config.suppliers[1].regions == ["CN-BJ"]


def test_env_override_is_validated_like_the_file(tmp_path: Path) -> None:
    problems = problems_of(
        write(tmp_path, TWO_SUPPLIERS),
        environ={"GATEWAY__HTTP__PORT": "eighty", "GATEWAY__SUPPLIERS__0__URL": "nowhere"},
    )

    assert set(problems) == {"http.port", "suppliers[0].url"}


def test_unknown_env_key_is_reported(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, ""), environ={"GATEWAY__HTTP__PROT": "8081"})

    assert problems == {"http.prot": "unknown field (set by GATEWAY__HTTP__PROT)"}


def test_env_override_of_a_missing_array_entry_is_reported(tmp_path: Path) -> None:
    problems = problems_of(
        write(tmp_path, TWO_SUPPLIERS), environ={"GATEWAY__SUPPLIERS__5__URL": "http://x"}
    )

    assert list(problems) == ["suppliers[5]"]
    assert "GATEWAY__SUPPLIERS__5__URL" in problems["suppliers[5]"]


def test_environment_variables_without_the_prefix_are_ignored(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, ""),
        environ={"GATEWAY_CONFIG": "x.toml", "HTTP__PORT": "1", "GATEWAY_HTTP_PORT": "2"},
    )

    assert config.http.port == 8080


@pytest.mark.parametrize("value", ["123456", "true", "2026-01-01"])
def test_env_override_of_a_string_key_keeps_the_text(tmp_path: Path, value: str) -> None:
    """Regression: override values were read as TOML literals, so a password 123456 arrived
    as an int and was rejected (`mqtt.password: Expected str | null, got int`)."""
    config = load_config(write(tmp_path, ""), environ={"GATEWAY__MQTT__PASSWORD": value})

    assert config.mqtt.password == value


# -- secrets ----------------------------------------------------------------------------------


def test_env_secret_is_read_from_the_named_variable(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[mqtt]\nusername = "gw"\npassword = "env:MQTT_PW"\n'
        + TWO_SUPPLIERS.replace('regions = ["*"]', 'regions = ["*"]\nwebhook_secret = "env:B"'),
    )

    config = load_config(path, environ={"MQTT_PW": "pw", "B": "123456"})

    assert config.mqtt.password == "pw"
    assert config.suppliers[1].webhook_secret == "123456"
    assert config.suppliers[0].webhook_secret is None


def test_missing_secret_variable_is_reported_at_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, CONTRACT_CONFIG.replace("[mqtt]", '[mqtt]\npassword = "env:MQTT_PW"'))

    problems = problems_of(path, environ={})

    assert problems == {
        "mqtt.password": "environment variable MQTT_PW is not set",
        "suppliers[0].webhook_secret": "environment variable SUP_A_SECRET is not set",
    }


# -- catalog CSV files ------------------------------------------------------------------------


def test_catalog_csv_is_read_relative_to_the_config_file(tmp_path: Path) -> None:
    """The CSV path is relative to the config file's folder, not the working directory; its
    rows come after the inline entries, typed the same way."""
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "catalog.csv").write_text(
        "sku,supplier,cost,stock,priority\nSKU-2,sup-b,3.25,10,2\nSKU-3,sup-a,0.5,0,\n",
        encoding="utf-8",
    )
    path = write(
        folder,
        TWO_SUPPLIERS
        + '[[catalog]]\nsku = "SKU-1"\nsupplier = "sup-a"\ncost = "1"\nstock = 5\n'
        + '[routing]\ncatalog_files = ["catalog.csv"]\n',
    )

    config = load_config(path, environ={})

    assert [(e.sku, e.supplier, e.unit_cost, e.stock, e.priority) for e in config.catalog] == [
        ("SKU-1", "sup-a", Decimal("1"), 5, 100),
        ("SKU-2", "sup-b", Decimal("3.25"), 10, 2),
        ("SKU-3", "sup-a", Decimal("0.5"), 0, 100),  # blank priority: the default
    ]


def test_bad_catalog_csv_rows_are_reported_with_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "cat.csv").write_text(
        "sku,supplier,cost,stock,priority\n"
        "SKU-1,sup-a,1.00,5,1\n"
        "SKU-2,sup-a,abc,5,1\n"
        "SKU-3,sup-q,1.00,5,1\n",
        encoding="utf-8",
    )
    path = write(tmp_path, TWO_SUPPLIERS + '[routing]\ncatalog_files = ["cat.csv"]\n')

    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})

    assert sorted(str(caught.value).splitlines()) == [
        "routing.catalog_files[0]: cat.csv line 3: cost: expected a non-negative decimal "
        'amount as a string, such as "19.90"',
        "routing.catalog_files[0]: cat.csv line 4: no supplier 'sup-q'",
    ]


def test_catalog_csv_missing_columns_or_file(tmp_path: Path) -> None:
    (tmp_path / "short.csv").write_text("sku,supplier\nSKU-1,sup-a\n", encoding="utf-8")
    path = write(
        tmp_path, TWO_SUPPLIERS + '[routing]\ncatalog_files = ["short.csv", "absent.csv"]\n'
    )

    problems = problems_of(path)

    assert problems["routing.catalog_files[0]"] == "short.csv: missing columns cost, stock"
    assert problems["routing.catalog_files[1]"].startswith("cannot read absent.csv")


# -- the `check` command ----------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY")}
    return subprocess.run(
        [sys.executable, "run.py", *args],
        cwd=PROJECT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


BAD_CONFIG = (
    TWO_SUPPLIERS.replace("http://127.0.0.1:9102", "nowhere")
    + '[http]\nprot = 1\n[[catalog]]\nsku = "S"\nsupplier = "sup-z"\ncost = "1"\nstock = 1\n'
)


def test_check_on_a_bad_config_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    result = run_cli("check", "--config", str(write(tmp_path, BAD_CONFIG)))

    assert result.returncode == 2, result.stderr
    assert sorted(result.stdout.splitlines()) == [
        "catalog[0].supplier: no supplier 'sup-z'",
        "http.prot: unknown field",
        "suppliers[1].url: not a valid URL",
    ]


def test_check_reads_gateway_config_when_config_is_not_given(tmp_path: Path) -> None:
    result = run_cli("check", env={"GATEWAY_CONFIG": str(write(tmp_path, BAD_CONFIG))})

    assert result.returncode == 2, result.stderr
    assert "suppliers[1].url: not a valid URL" in result.stdout.splitlines()


def test_check_on_a_good_config_exits_0(tmp_path: Path) -> None:
    path = write(tmp_path, CONTRACT_CONFIG)

    result = run_cli("check", "--config", str(path), env=SECRETS)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_check_names_an_adapter_that_is_not_loaded(tmp_path: Path) -> None:
    path = write(tmp_path, CONTRACT_CONFIG.replace('"http_json"', '"carrier_pigeon"'))

    result = run_cli("check", "--config", str(path), env=SECRETS)

    assert result.returncode == 2
    assert result.stdout.startswith("suppliers[0].adapter: no supplier adapter named")


def test_schema_order_prints_the_json_schema() -> None:
    result = run_cli("schema", "order")

    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert "$defs" in schema
    assert "IntakeOrder" in schema["$defs"]


def test_an_override_takes_the_type_of_the_value_it_replaces(tmp_path: Path) -> None:
    """Free-form plugin options have no schema to convert text: an override of an existing
    option keeps that option's type, so a plugin reading `port` still gets an int."""
    path = write(
        tmp_path,
        '[[services]]\nid = "fleet"\nplugin = "supplier_fleet"\n'
        '[services.options]\nport = 9101\nrate = 0.5\nfast = true\nlabel = "x"\n',
    )
    config = load_config(
        path,
        environ={
            "GATEWAY__SERVICES__0__OPTIONS__PORT": "9201",
            "GATEWAY__SERVICES__0__OPTIONS__RATE": "0.25",
            "GATEWAY__SERVICES__0__OPTIONS__FAST": "false",
            "GATEWAY__SERVICES__0__OPTIONS__LABEL": "123",
            "GATEWAY__SERVICES__0__OPTIONS__NEW": "7",
        },
    )
    assert config.services[0].options == {
        "port": 9201,
        "rate": 0.25,
        "fast": False,
        "label": "123",
        "new": "7",
    }
