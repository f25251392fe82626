"""What a realistic Australian pet-care practice sells, and who its customers are.

Plain data for :mod:`hookspecs.refhost.generator`. Prices are AUD and GST-inclusive, as pet
businesses in Australia price; a few lines are GST-free (tax rate ``"0"``).
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = [
    "AREAS",
    "DAYCARE",
    "FIRST_NAMES",
    "GROOMING",
    "LAST_NAMES",
    "LOCATIONS",
    "PETS",
    "PROFILES",
    "RETAIL",
    "Item",
    "Site",
]


class Site(NamedTuple):
    """A location template; ``profile_weights`` say what its customers mostly come for."""

    id: str
    name: str
    timezone: str
    region: str
    suburbs: tuple[tuple[str, str], ...]
    """(suburb, postcode) pairs customers live in."""
    profile_weights: tuple[float, float, float, float]
    """Weights of the customer profiles in :data:`PROFILES` (boarder, daycare, groomer, shopper)."""


class Item(NamedTuple):
    """One thing a practice sells: what the invoice line says, its price, its category and
    tax rate, and the kind of area it is sold in (``None``: any)."""

    description: str
    unit_price: str
    category: str
    tax_rate: str = "10"
    area_type: str | None = None


PROFILES: Final = ("boarder", "daycare", "groomer", "shopper")
"""Why a customer comes: decides what their invoices hold and how often they come."""

PROFILE_VISITS_PER_DAY: Final = {
    "boarder": 0.006,
    "daycare": 0.045,
    "groomer": 0.016,
    "shopper": 0.006,
}
"""Chance per day that an active customer of that profile is invoiced (daycare regulars weekly,
grooming every two months, a boarding stay a couple of times a year)."""

LOCATIONS: Final[tuple[Site, ...]] = (
    Site(
        "bondi-beach",
        "Bondi Beach Pet Resort",
        "Australia/Sydney",
        "NSW",
        (("Bondi", "2026"), ("Bondi Junction", "2022"), ("Bronte", "2024"), ("Coogee", "2034")),
        (0.55, 0.15, 0.2, 0.1),
    ),
    Site(
        "parramatta",
        "Parramatta Dog Daycare",
        "Australia/Sydney",
        "NSW",
        (
            ("Parramatta", "2150"),
            ("Westmead", "2145"),
            ("Harris Park", "2150"),
            ("Ermington", "2115"),
        ),
        (0.2, 0.5, 0.2, 0.1),
    ),
    Site(
        "newtown",
        "Newtown Grooming Studio",
        "Australia/Sydney",
        "NSW",
        (
            ("Newtown", "2042"),
            ("Enmore", "2042"),
            ("Erskineville", "2043"),
            ("Marrickville", "2204"),
        ),
        (0.15, 0.1, 0.6, 0.15),
    ),
    Site(
        "manly",
        "Manly Kennels & Cattery",
        "Australia/Sydney",
        "NSW",
        (("Manly", "2095"), ("Fairlight", "2094"), ("Balgowlah", "2093")),
        (0.6, 0.1, 0.2, 0.1),
    ),
    Site(
        "brunswick",
        "Brunswick Dog Daycare",
        "Australia/Melbourne",
        "VIC",
        (("Brunswick", "3056"), ("Coburg", "3058"), ("Fitzroy North", "3068")),
        (0.15, 0.55, 0.2, 0.1),
    ),
    Site(
        "newstead",
        "Newstead Grooming Co.",
        "Australia/Brisbane",
        "QLD",
        (("Newstead", "4006"), ("Teneriffe", "4005"), ("New Farm", "4005")),
        (0.15, 0.1, 0.6, 0.15),
    ),
    Site(
        "fremantle",
        "Fremantle Pet Hotel",
        "Australia/Perth",
        "WA",
        (("Fremantle", "6160"), ("South Fremantle", "6162"), ("Beaconsfield", "6162")),
        (0.55, 0.15, 0.2, 0.1),
    ),
    Site(
        "glenelg",
        "Glenelg Pet Resort",
        "Australia/Adelaide",
        "SA",
        (("Glenelg", "5045"), ("Brighton", "5048"), ("Somerton Park", "5044")),
        (0.5, 0.2, 0.2, 0.1),
    ),
)

AREAS: Final[tuple[tuple[Item, float], ...]] = (
    (Item("Boarding – Luxury suite", "85.00", "boarding", area_type="Luxury suite"), 0.2),
    (Item("Boarding – Deluxe kennel", "68.00", "boarding", area_type="Deluxe kennel"), 0.3),
    (Item("Boarding – Standard kennel", "55.00", "boarding", area_type="Standard kennel"), 0.35),
    (Item("Boarding – Cattery", "38.00", "boarding", area_type="Cattery"), 0.15),
)

DAYCARE: Final[tuple[tuple[Item, float], ...]] = (
    (Item("Daycare – full day", "58.00", "daycare", area_type="Big dog yard"), 0.55),
    (Item("Daycare – half day", "36.00", "daycare", area_type="Small dog yard"), 0.3),
    (Item("Daycare – 10-day pack", "520.00", "daycare"), 0.15),
)

GROOMING: Final[tuple[tuple[Item, float], ...]] = (
    (Item("Full groom – small dog", "75.00", "grooming"), 0.3),
    (Item("Full groom – large dog", "110.00", "grooming"), 0.25),
    (Item("Bath & brush", "45.00", "grooming"), 0.25),
    (Item("Nail clip", "18.00", "grooming"), 0.1),
    (Item("De-shedding treatment", "35.00", "grooming"), 0.1),
)

RETAIL: Final[tuple[tuple[Item, float], ...]] = (
    (Item("Premium kibble 12 kg", "89.95", "retail"), 0.2),
    (Item("Grain-free cat food 3 kg", "42.50", "retail"), 0.15),
    (Item("Oatmeal dog shampoo 500 ml", "19.95", "retail"), 0.15),
    (Item("Rope tug toy", "12.50", "retail"), 0.15),
    (Item("Reflective harness", "34.99", "retail"), 0.1),
    (Item("Dental chews (28 pack)", "27.99", "retail"), 0.15),
    (Item("Rescue shelter donation", "5.00", "extras", tax_rate="0"), 0.1),
)

EXTRAS: Final = {
    "walk": Item("Extra walk", "15.00", "extras"),
    "medication": Item("Medication administration", "6.50", "extras"),
    "bath": Item("Going-home bath", "35.00", "grooming"),
    "training": Item("Puppy manners class", "40.00", "training"),
    "pickup": Item("Pet taxi (pick-up & drop-off)", "30.00", "extras", tax_rate="0"),
}

FIRST_NAMES: Final = (
    "Olivia", "Charlotte", "Amelia", "Isla", "Mia", "Ava", "Grace", "Chloe", "Sophie", "Ella",
    "Zoe", "Emily", "Ruby", "Harper", "Matilda", "Lily", "Evie", "Sienna", "Hannah", "Priya",
    "Mei", "Aisha", "Fatima", "Ngaio", "Jack", "Oliver", "William", "Noah", "Thomas", "James",
    "Lucas", "Henry", "Leo", "Charlie", "Ethan", "Liam", "Mason", "Hugo", "Samuel", "Isaac",
    "Harrison", "Lachlan", "Cooper", "Archie", "Rohan", "Wei", "Minh", "Arjun", "Tariq", "Kai",
)  # fmt: skip

LAST_NAMES: Final = (
    "Smith", "Jones", "Williams", "Brown", "Wilson", "Taylor", "Johnson", "White", "Martin",
    "Anderson", "Thompson", "Nguyen", "Thomas", "Walker", "Harris", "Lee", "Ryan", "Robinson",
    "Kelly", "King", "Davis", "Wright", "Evans", "Roberts", "Green", "Hall", "Wood", "Jackson",
    "Clarke", "Patel", "Khan", "Tran", "Chen", "Wang", "Singh", "O'Brien", "McDonald", "Murphy",
    "Mitchell", "Campbell", "Young", "Scott", "Stewart", "Morris", "Papadopoulos", "Rossi",
)  # fmt: skip

PETS: Final = (
    "Max", "Bella", "Charlie", "Luna", "Coco", "Milo", "Ruby", "Oscar", "Daisy", "Teddy",
    "Molly", "Buddy", "Rosie", "Archie", "Lola", "Alfie", "Frankie", "Bailey", "Toby", "Maggie",
    "Ollie", "Winston", "Pepper", "Biscuit", "Marley", "Nala", "Ziggy", "Honey", "Jasper", "Loki",
    "Poppy", "Harley", "Sasha", "Benji", "Mochi", "Chilli", "Tilly", "Rex", "Banjo", "Kiki",
)  # fmt: skip

STREETS: Final = (
    "Campbell Parade", "Hall Street", "Church Street", "King Street", "Enmore Road",
    "George Street", "Victoria Road", "Darling Street", "Pittwater Road", "Ocean Street",
    "Sydney Road", "High Street", "Beach Road", "Station Street", "Albert Street",
)  # fmt: skip

CUSTOMER_TYPES: Final = (("standard", 0.82), ("vip", 0.08), ("staff", 0.04), ("breeder", 0.06))
"""VIPs get 10 % off boarding, staff 25 % off everything, breeders are billed GST-exclusive."""

PAYMENT_METHODS: Final = (
    ("card", 0.33),
    ("eftpos", 0.3),
    ("cash", 0.12),
    ("bank_transfer", 0.12),
    ("stripe", 0.13),
)
