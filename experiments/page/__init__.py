"""The teaching page (`cascade-lab demo`): Mesa's SolaraViz shell (`app`) and its
plain-language story of a run (`narrative`)."""
