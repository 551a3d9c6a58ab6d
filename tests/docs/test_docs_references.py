"""
The README, MODEL_ZOO.md and every page of docs/ refer only to what exists: each relative link
resolves (to a heading, when it names one), and each repository path written in a command or in
inline code is in the repository.
"""

from pathlib import Path

from markdown_docs import (
    ROOT,
    Reference,
    link_resolves,
    links,
    markdown_files,
    path_exists,
    python_commands,
    repository_paths,
)


def test_the_walk_covers_the_readme_the_model_zoo_and_every_docs_page():
    pages = markdown_files()
    assert ROOT / "README.md" in pages and ROOT / "MODEL_ZOO.md" in pages
    assert set((ROOT / "docs").glob("*.md")) <= set(pages)


def test_the_walk_finds_the_quick_start_command_its_links_and_paths():
    readme = ROOT / "README.md"
    commands = [(script, arguments) for _, script, arguments in python_commands(readme)]
    assert ("train_net.py", ["--config-file", "configs/Shapes/atss_R_18_FPN_shapes.py"]) in commands
    assert "docs/visualization.md" in {r.text for r in links(readme)}
    assert "configs/Shapes/atss_R_18_FPN_shapes.py" in {r.text for r in repository_paths(readme)}


def test_every_relative_link_resolves():
    broken = [str(r) for page in markdown_files() for r in links(page) if not link_resolves(r)]
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_every_repository_path_in_commands_and_inline_code_exists():
    missing = [
        str(r)
        for page in markdown_files()
        for r in repository_paths(page)
        if not path_exists(r.text)
    ]
    assert not missing, "paths that are not in the repository:\n" + "\n".join(missing)


def test_a_link_to_a_missing_file_or_heading_does_not_resolve(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n## The heading\n")
    assert link_resolves(Reference(page, 1, "page.md#the-heading"))
    assert link_resolves(Reference(page, 1, "#a-page"))
    assert not link_resolves(Reference(page, 1, "missing.md"))
    assert not link_resolves(Reference(page, 1, "page.md#no-such-heading"))


def test_a_missing_path_in_a_command_is_found(tmp_path: Path):
    page = tmp_path / "page.md"
    page.write_text(
        "Run `python tools/no_such_tool.py`:\n\n```bash\n"
        "python train_net.py --config-file configs/Shapes/no_such_config.py \\\n"
        "    train.init_checkpoint=output/model.pth\n```\n"
    )
    paths = {r.text for r in repository_paths(page)}
    assert {"tools/no_such_tool.py", "configs/Shapes/no_such_config.py"} <= paths
    assert "output/model.pth" not in paths  # written by a run, not part of the repository
    assert not any(path_exists(p) for p in paths - {"train_net.py"})
