"""Names and places the generator draws from: given names, surnames, streets and postcode letters.
Every person made from them is invented."""
import csv
from pathlib import Path

BOYS = ("Oliver George Harry Noah Jack Leo Arthur Muhammad Oscar Charlie Jacob Thomas Henry William Freddie "
        "Alfie Theo Archie Joshua James Lucas Isaac Edward Alexander Joseph Samuel Daniel Logan Ethan Max "
        "Mason Adam Benjamin Reggie Sebastian Finley Arlo Dylan Harrison Elijah Teddy Louie Toby Rory Albert "
        "Reuben Jude Ronnie Frederick Louis Hugo Ryan Stanley Michael Elliot Tommy Jaxon Frankie David Matthew "
        "Luca Jenson Ezra Caleb Rowan Zachary Felix Austin Bobby Ollie Kai Grayson Nathan Liam Gabriel Hunter "
        "Roman Harvey Jasper Ibrahim Aaron Otis Christopher Patrick Jayden Anthony Robert Nicholas Richard").split()
GIRLS = ("Olivia Amelia Isla Ava Mia Ivy Lily Isabella Rosie Sophia Grace Willow Freya Florence Emily Ella "
         "Poppy Evie Elsie Charlotte Evelyn Sienna Sofia Daisy Phoebe Sophie Alice Harper Matilda Ruby Emilia "
         "Maya Millie Isabelle Eva Luna Jessica Aria Elizabeth Erin Imogen Ellie Esme Harriet Eleanor Mila "
         "Violet Hallie Penelope Layla Zara Aurora Thea Maisie Bonnie Darcie Georgia Lottie Eliza Margot Nancy "
         "Rose Lucy Hannah Maria Victoria Rebecca Katherine Abigail Natalie Samantha Madeleine Josephine Amira "
         "Aisha Fatima Maryam Zainab Hafsa Anaya Priya Chloe Leah Megan Jennifer Caroline Deborah Frances").split()
SURNAMES = ("Smith Jones Williams Taylor Brown Davies Evans Wilson Thomas Johnson Roberts Robinson Thompson Wright "
            "Walker White Edwards Hughes Green Hall Lewis Harris Clarke Patel Jackson Wood Turner Martin Cooper Hill "
            "Ward Morris Moore Clark Lee King Baker Harrison Morgan Allen James Scott Phillips Watson Davis Parker "
            "Price Bennett Young Griffiths Mitchell Kelly Cook Carter Richardson Bailey Collins Bell Shaw Murphy "
            "Miller Cox Richards Khan Marshall Anderson Simpson Ellis Adams Singh Begum Wilkinson Foster Chapman "
            "Powell Webb Rogers Gray Mason Ali Hunt Hussain Campbell Matthews Owen Palmer Holmes Mills Barnes Knight "
            "Lloyd Butler Russell Barker Fisher Stevens Jenkins Murray Dixon Harvey Graham Pearson Ahmed Fletcher "
            "Walsh Kaur Gibson Howard Andrews Stewart Elliott Reynolds Saunders Payne Fox Ford Pearce Day Brooks "
            "West Lawrence Cole Atkinson Bradley Spencer Gill Dawson Ball Burton O'Brien Watts Rose Booth Perry Ryan "
            "Grant Wells Armstrong Francis Rees Hayes Hart Hudson Newman Barrett Webster Hunter Gregory Carr Lowe "
            "Page Marsh Riley Dunn Woods Parsons Berry Stone Reid Holland Hawkins Harding Porter Robertson Newton "
            "Oliver Reed Kennedy Williamson Bird Gardner Shah Dean Lane Cooke Bates Henderson Parry Burgess Bishop "
            "Walton Burns Nicholson Shepherd Ross Cross Long Freeman Warren Nicholls Hamilton Byrne Sutton McDonald "
            "Yates Hodgson Robson Curtis Hopkins O'Connor Harper Coleman Watkins Moss McCarthy Chambers O'Neill "
            "Griffin Sharp Hardy Wheeler Potter Osborne Johnston Gordon Doyle Wallace George Jordan Hutchinson Rahman "
            "Nowak Kowalski Nguyen Okafor Mensah Adeyemi Ozturk Popescu Silva Costa Rossi Muller Novak Chowdhury "
            "Akhtar Iqbal Mahmood Sharma Gupta Ng Wong Chen Zhang Li Wang Liu Kim Park Haddad Yilmaz Dubois").split()
STREETS = ("High Street|Station Road|Church Lane|Park Avenue|Victoria Road|Green Lane|Manor Road|Mill Lane|"
           "Kings Road|Queens Road|New Road|School Lane|The Crescent|Grange Road|Chester Road|Albert Street|"
           "York Road|Richmond Road|Springfield Road|Windsor Avenue|Meadow Way|Orchard Close|Elm Grove|"
           "Beech Drive|Oak Avenue|Willow Close|Cedar Road|Hawthorn Way|Ash Grove|Maple Road").split("|")
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
PSEUDO_POSTCODES = ("ZZ99 3VZ", "ZZ99 3WZ")


_GB: dict[str, tuple[str, ...]] = {}


def gb_names() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(boys, girls, surnames) in rank order from names-dataset's Great Britain counts
    (synth/data, made by synth/data/extract_names.py): thousands of names, diacritics and all."""
    if not _GB:
        data = Path(__file__).resolve().parent / "data"
        with open(data / "gb_given_names.csv", newline="", encoding="utf-8") as fh:
            given = list(csv.DictReader(fh))
        for sex, key in (("M", "boys"), ("F", "girls")):
            _GB[key] = tuple(r["name"] for r in sorted((r for r in given if r["sex"] == sex), key=lambda r: int(r["rank"])))
        with open(data / "gb_surnames.csv", newline="", encoding="utf-8") as fh:
            _GB["surnames"] = tuple(r["name"] for r in sorted(csv.DictReader(fh), key=lambda r: int(r["rank"])))
    return _GB["boys"], _GB["girls"], _GB["surnames"]
