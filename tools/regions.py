"""Where the catalog's cloud regions are (city and country), to turn places into regions.

A place a user names ("their data has to stay in Frankfurt", "EU only", "in London") becomes
region names.

Facts from the providers' own region lists (AWS "Regions and Availability Zones", Google Cloud
"Regions and zones", Azure "Azure geographies", Lambda's and Nebius' region pages). Marketplace
catalogs (vast, runpod) name countries, not regions a plan can pin, and OCI's rows are priced
for all regions at once: none of them is listed here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

# region: city, ISO country code. One line per region, "provider region city country".
_REGIONS = """
aws af-south-1 Cape-Town ZA
aws ap-east-1 Hong-Kong HK
aws ap-northeast-1 Tokyo JP
aws ap-northeast-2 Seoul KR
aws ap-northeast-3 Osaka JP
aws ap-south-1 Mumbai IN
aws ap-southeast-1 Singapore SG
aws ap-southeast-2 Sydney AU
aws ap-southeast-3 Jakarta ID
aws ca-central-1 Montreal CA
aws eu-central-1 Frankfurt DE
aws eu-north-1 Stockholm SE
aws eu-south-1 Milan IT
aws eu-south-2 Zaragoza ES
aws eu-west-1 Dublin IE
aws eu-west-2 London GB
aws eu-west-3 Paris FR
aws me-central-1 Dubai AE
aws me-south-1 Bahrain BH
aws us-east-1 Virginia US
aws us-east-2 Ohio US
aws us-west-1 California US
aws us-west-2 Oregon US
gcp asia-east1 Changhua TW
gcp asia-east2 Hong-Kong HK
gcp asia-northeast1 Tokyo JP
gcp asia-northeast3 Seoul KR
gcp asia-south1 Mumbai IN
gcp asia-south2 Delhi IN
gcp asia-southeast1 Singapore SG
gcp asia-southeast2 Jakarta ID
gcp australia-southeast1 Sydney AU
gcp europe-central2 Warsaw PL
gcp europe-north1 Hamina FI
gcp europe-west1 St-Ghislain BE
gcp europe-west2 London GB
gcp europe-west3 Frankfurt DE
gcp europe-west4 Eemshaven NL
gcp europe-west6 Zurich CH
gcp europe-west9 Paris FR
gcp me-central2 Dammam SA
gcp me-west1 Tel-Aviv IL
gcp northamerica-northeast1 Montreal CA
gcp northamerica-northeast2 Toronto CA
gcp southamerica-east1 Sao-Paulo BR
gcp southamerica-west1 Santiago CL
gcp us-central1 Iowa US
gcp us-central2 Oklahoma US
gcp us-east1 South-Carolina US
gcp us-east4 Virginia US
gcp us-east5 Ohio US
gcp us-south1 Texas US
gcp us-west1 Oregon US
gcp us-west2 California US
gcp us-west3 Utah US
gcp us-west4 Nevada US
azure australiacentral Canberra AU
azure australiacentral2 Canberra AU
azure australiaeast Sydney AU
azure australiasoutheast Melbourne AU
azure brazilsouth Sao-Paulo BR
azure canadacentral Toronto CA
azure canadaeast Quebec CA
azure centralindia Pune IN
azure centralus Iowa US
azure chilecentral Santiago CL
azure eastasia Hong-Kong HK
azure eastus Virginia US
azure eastus2 Virginia US
azure francecentral Paris FR
azure germanynorth Berlin DE
azure germanywestcentral Frankfurt DE
azure indonesiacentral Jakarta ID
azure israelcentral Tel-Aviv IL
azure italynorth Milan IT
azure japaneast Tokyo JP
azure japanwest Osaka JP
azure jioindiacentral Nagpur IN
azure jioindiawest Jamnagar IN
azure koreacentral Seoul KR
azure koreasouth Busan KR
azure malaysiawest Kuala-Lumpur MY
azure mexicocentral Queretaro MX
azure northcentralus Illinois US
azure northeurope Dublin IE
azure norwayeast Oslo NO
azure norwaywest Stavanger NO
azure polandcentral Warsaw PL
azure qatarcentral Doha QA
azure southafricanorth Johannesburg ZA
azure southafricawest Cape-Town ZA
azure southcentralus Texas US
azure southeastasia Singapore SG
azure southindia Chennai IN
azure spaincentral Madrid ES
azure swedencentral Gavle SE
azure switzerlandnorth Zurich CH
azure switzerlandwest Geneva CH
azure uaecentral Abu-Dhabi AE
azure uaenorth Dubai AE
azure uksouth London GB
azure ukwest Cardiff GB
azure westcentralus Wyoming US
azure westeurope Amsterdam NL
azure westus California US
azure westus2 Washington US
azure westus3 Arizona US
lambda asia-northeast-1 Tokyo JP
lambda asia-northeast-2 Osaka JP
lambda asia-south-1 Hyderabad IN
lambda australia-east-1 Sydney AU
lambda europe-central-1 Frankfurt DE
lambda europe-south-1 Milan IT
lambda me-west-1 Tel-Aviv IL
lambda us-east-1 Virginia US
lambda us-east-2 Washington-DC US
lambda us-east-3 Virginia US
lambda us-midwest-1 Illinois US
lambda us-south-1 Texas US
lambda us-south-2 Texas US
lambda us-south-3 Texas US
lambda us-west-1 California US
lambda us-west-2 California US
lambda us-west-3 Utah US
nebius eu-north1 Mantsala FI
nebius eu-west1 Paris FR
nebius us-central1 Kansas-City US
"""

EU_COUNTRIES = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
)
# Country names people use → ISO code.
COUNTRIES = {
    "germany": "DE",
    "france": "FR",
    "the uk": "GB",
    "uk": "GB",
    "united kingdom": "GB",
    "britain": "GB",
    "england": "GB",
    "ireland": "IE",
    "the netherlands": "NL",
    "netherlands": "NL",
    "holland": "NL",
    "sweden": "SE",
    "finland": "FI",
    "italy": "IT",
    "spain": "ES",
    "poland": "PL",
    "switzerland": "CH",
    "norway": "NO",
    "japan": "JP",
    "korea": "KR",
    "south korea": "KR",
    "india": "IN",
    "singapore": "SG",
    "australia": "AU",
    "canada": "CA",
    "brazil": "BR",
    "the us": "US",
    "the usa": "US",
    "usa": "US",
    "united states": "US",
    "america": "US",
}
# Areas: several countries under one name.
AREAS = {
    "the eu": EU_COUNTRIES,
    "eu": EU_COUNTRIES,
    "european union": EU_COUNTRIES,
    "europe": EU_COUNTRIES | {"GB", "CH", "NO"},
}
_DISPLAY = {"eu": "EU", "the eu": "EU", "european union": "EU", "europe": "Europe"}


@dataclass(frozen=True)
class RegionPlace:
    """One region's provider, city and country."""

    provider: str
    region: str
    city: str
    country: str


@cache
def region_places() -> tuple[RegionPlace, ...]:
    """Return every listed region with its city and country."""
    places = []
    for line in _REGIONS.strip().splitlines():
        provider, region, city, country = line.split()
        places.append(RegionPlace(provider, region, city.replace("-", " "), country))
    return tuple(places)


@cache
def place_names() -> dict[str, str]:
    """Return every place a user may name (lower case) → how to show it."""
    names = {p.city.lower(): p.city for p in region_places()}
    names.update({name: name.title() if len(name) > 3 else name.upper() for name in COUNTRIES})
    names.update({"the uk": "the UK", "uk": "UK", "the us": "the US", "the usa": "the USA"})
    names.update({name: _DISPLAY[name] for name in AREAS})
    return names


def regions_in(place: str, providers: Iterable[str] = ()) -> list[str]:
    """Return the catalog regions in a city, country or area, of ``providers`` if given."""
    key = place.strip().lower()
    wanted = set(providers)
    if key in AREAS:
        countries = AREAS[key]
        match = [p for p in region_places() if p.country in countries]
    elif key in COUNTRIES:
        match = [p for p in region_places() if p.country == COUNTRIES[key]]
    else:
        match = [p for p in region_places() if p.city.lower() == key]
    return list(dict.fromkeys(p.region for p in match if not wanted or p.provider in wanted))
