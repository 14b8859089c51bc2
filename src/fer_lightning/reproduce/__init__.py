"""Reproduce the seed reports' FER2013 recipes: plan, train (resumably), evaluate and write the results page."""
