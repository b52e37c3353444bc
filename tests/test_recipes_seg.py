"""The segmentation recipes shipped in the package validate (every stage and the search space) without running."""

from pathlib import Path

from edgevision.recipe import load_recipe, plan
from edgevision.search.run import SearchConfig, make_plan

RECIPES = Path(__file__).resolve().parents[1] / "src" / "edgevision" / "recipes"


def test_segmentation_recipe_validates(tmp_path):
    stages, planned = plan(load_recipe(RECIPES / "pennfudan-segmentation.yaml"), tmp_path)
    assert [s.verb for s in stages] == ["train", "eval", "profile", "report"]
    assert planned[0]["model"] == "fastlinknet" and planned[0]["data"]["source"] == "pennfudan"


def test_search_recipe_validates_every_corner(tmp_path):
    p = make_plan(SearchConfig(recipe=str(RECIPES / "pennfudan-seg-search.yaml")), tmp_path)
    assert [o.direction for o in p.objectives] == ["maximize", "minimize"] and p.trials == 30
    assert [s for s in p.recipe["stages"] if "report" in s] == []  # skipped inside trials
