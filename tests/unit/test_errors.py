"""The one error model: every package's errors share a base, an exit code and the CLI adapter."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from client.errors import PerfAnalyzerError, ServerUnreachable, UnsupportedModel
from export.errors import UsageError as ExportUsageError
from export.errors import VerificationError
from server.errors import RepositoryNotFoundError
from server.errors import UsageError as ServerUsageError
from tritonize.cli_errors import debug_option, report
from tritonize.errors import TritonizeError, UsageError


@pytest.mark.parametrize(("error", "code"), [
    (ExportUsageError("x"), 2), (VerificationError("x"), 1), (ServerUsageError("x"), 2),
    (RepositoryNotFoundError("x"), 2), (UnsupportedModel("x"), 2), (ServerUnreachable("x"), 1),
    (PerfAnalyzerError("x"), 1),
])
def test_every_package_error_is_a_tritonize_error_with_its_exit_code(error: TritonizeError, code: int) -> None:
    assert isinstance(error, TritonizeError) and error.exit_code == code
    if not isinstance(error, RepositoryNotFoundError):  # a missing repository exits 2 as well
        assert isinstance(error, UsageError) == (code == 2)


def command(error: TritonizeError) -> click.Command:
    @click.command()
    @debug_option()
    def main(debug: bool) -> None:
        try:
            raise error
        except TritonizeError as caught:
            raise report(caught, debug, click.get_current_context()) from None

    return main


def test_the_adapter_prints_one_line_with_the_error_s_code_and_the_trace_only_with_debug() -> None:
    result = CliRunner().invoke(command(ExportUsageError("no such thing")), [])
    assert (result.exit_code, result.output) == (2, "Error: no such thing\n")
    traced = CliRunner().invoke(command(ExportUsageError("no such thing")), ["--debug"])
    assert traced.exit_code == 2 and traced.output.startswith("Traceback (most recent call last):")
    assert traced.output.endswith("Error: no such thing\n")


def test_client_usage_problems_keep_click_s_usage_form() -> None:
    result = CliRunner().invoke(command(UnsupportedModel("needs --tokenizer")), [])
    assert result.exit_code == 2
    assert result.output.startswith("Usage: ") and result.output.endswith("Error: needs --tokenizer\n")


def test_a_module_an_extra_installs_names_the_extra() -> None:
    from tritonize.cli_errors import missing_extra

    found = missing_extra(ModuleNotFoundError("No module named 'onnxruntime.capi'", name="onnxruntime.capi"))
    assert found is not None and found.exit_code == 2
    assert "'export' extra" in str(found) and "tritonize[export]" in str(found)
    assert missing_extra(ModuleNotFoundError("No module named 'nothing_we_know'", name="nothing_we_know")) is None


def test_requires_extras_turns_the_missing_module_into_a_usage_error() -> None:
    import click
    from click.testing import CliRunner

    from tritonize.cli_errors import requires_extras

    @click.command()
    @requires_extras
    def gateway_command() -> None:
        raise ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn")

    result = CliRunner().invoke(gateway_command, [])
    assert result.exit_code == 2 and "tritonize[gateway]" in result.output
