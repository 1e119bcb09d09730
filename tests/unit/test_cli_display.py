"""The CLI shows file names, titles and moments with direction overrides and line separators made visible."""

from videoflow import cli


def test_a_file_name_with_a_direction_override_is_printed_with_the_override_visible(tmp_path, capsys):
    missing = tmp_path / "invoice\u202egnp.mp4"

    assert cli.main(["run", str(missing)]) == cli.EXIT_REJECTED

    err = capsys.readouterr().err
    assert "invoice<U+202E>gnp.mp4 is not a file" in err
    assert "\u202e" not in err


def test_a_moment_is_printed_on_one_line_with_its_isolates_visible():
    # A line separator is whitespace: the moment is folded onto one line; an isolate is made visible.
    assert cli._shorten("first\u2028second \u2067third\u2069") == "first second <U+2067>third<U+2069>"
