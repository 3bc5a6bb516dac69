"""Children missing education: the rules (`cme.rules`, pure), the flags the list is made of, the
cases officers work, the watch on the list, the termly reports and the CME export, the digest."""
