"""Run the `quarry` CLI in process and capture what it prints."""

from service.cli.main import main


def run(capsys, *argv):
    """(exit code, stdout, stderr) of `quarry ARGV...`."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
