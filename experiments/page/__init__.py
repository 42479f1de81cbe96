"""The teaching page (`cascade-lab demo`): the page and its model (`app`), its settings
(`controls`), its views (`views`, drawn by `charts`) and its plain-language story of a run
(`narrative`)."""
