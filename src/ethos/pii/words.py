"""Word lists the patterns are built from, and a helper that turns a list into a regex."""

from __future__ import annotations

import re


def alternation(
    words: list[str] | tuple[str, ...] | frozenset[str] | set[str], word_start: bool = False
) -> str:
    """A non-capturing regex matching any of ``words`` (a trie, so matching stays fast).

    A space in a word matches any run of blanks. ``word_start``: only at the start of a
    word; the check comes after the first letter so that the regex engine can still skip
    quickly to positions holding a possible first letter.
    """
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def esc(ch: str) -> str:
        return r"[ \t]+" if ch == " " else re.escape(ch)

    def build(node: dict, root: bool = False) -> str:
        end = "" in node
        guard = r"(?<![A-Za-z0-9_].)" if root and word_start else ""
        alts = [esc(ch) + guard + build(sub) for ch, sub in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if end:
            body = "(?:" + body + ")?"
        return body

    return "(?:" + build(trie, root=True) + ")"


#: Australian street types (Australia Post / AS 4590 list, most used ones), matched
#: case-insensitively. Those that double as ordinary words need extra evidence.
STREET_TYPES_PLAIN = (
    "st", "street", "rd", "road", "ave", "av", "avenue", "pde", "parade", "cres", "crescent",
    "ct", "crt", "court", "pl", "place", "hwy", "highway", "tce", "terrace", "blvd",
    "boulevard", "bvd", "cl", "close", "ln", "lane", "esp", "esplanade", "gr", "gve", "grove",
    "cct", "circuit", "pkwy", "parkway", "boulevarde", "fwy", "freeway", "mwy", "motorway",
    "firetrail", "promenade", "prom",
)
#: the rest of the Australia Post street-type list (AS 4590)
STREET_TYPES_AMBIGUOUS = tuple(
    w.lower()
    for w in (
        "Access", "Alley", "Alleyway", "Amble", "Anchorage", "Approach", "Arcade", "Artery",
        "Basin", "Beach", "Bend", "Block", "Brace", "Brae", "Break", "Bridge", "Broadway",
        "Brow", "Bypass", "Byway", "Causeway", "Centre", "Centreway", "Chase", "Circle",
        "Circlet", "Circus", "Colonnade", "Common", "Concourse", "Copse", "Corner", "Corso",
        "Courtyard", "Cove", "Crest", "Cross", "Crossing", "Crossroad", "Crossway",
        "Cruiseway", "Cul-de-sac", "Cutting", "Dale", "Dell", "Deviation", "Dip",
        "Distributor", "Drive", "Dr", "Drv", "Driveway", "Edge", "Elbow", "End", "Entrance",
        "Estate", "Expressway", "Extension", "Fairway", "Fire Track", "Flat", "Follow",
        "Footway", "Foreshore", "Formation", "Front", "Frontage", "Gap", "Garden", "Gardens",
        "Gdns", "Gate", "Gates", "Glade", "Glen", "Grange", "Green", "Grn", "Ground", "Gully",
        "Heights", "Hts", "Highroad", "Hill", "Interchange", "Intersection", "Junction",
        "Key", "Landing", "Laneway", "Lees", "Line", "Link", "Little", "Lookout", "Loop",
        "Lower", "Mall", "Meander", "Mew", "Mews", "Mount", "Nook", "Outlook", "Park",
        "Parklands", "Part", "Pass", "Path", "Pathway", "Piazza", "Plateau", "Plaza",
        "Pocket", "Point", "Port", "Quad", "Quadrangle", "Quadrant", "Quay", "Quays",
        "Ramble", "Ramp", "Range", "Reach", "Reserve", "Rest", "Retreat", "Ride", "Ridge",
        "Rdg", "Ridgeway", "Right Of Way", "Ring", "Rise", "River", "Riverway", "Riviera",
        "Roads", "Roadside", "Roadway", "Ronde", "Rosebowl", "Rotary", "Round", "Route",
        "Row", "Rue", "Run", "Service Way", "Siding", "Slope", "Sound", "Spur", "Square",
        "Sq", "Stairs", "State Highway", "Steps", "Strand", "Strip", "Subway", "Tarn",
        "Thoroughfare", "Tollway", "Top", "Tor", "Towers", "Track", "Trail", "Trailer",
        "Triangle", "Trunkway", "Turn", "Underpass", "Upper", "Vale", "Viaduct", "View",
        "Villas", "Vista", "Wade", "Walk", "Walkway", "Way", "Wynd",
    )
)

STATES_UPPER = ("NSW", "VIC", "QLD", "SA", "WA", "TAS", "NT", "ACT")
#: state spellings that cannot be an ordinary word
STATES_OTHER = ("Vic", "Qld", "Tas", "Nsw", "nsw", "vic", "qld", "tas")

MONTHS = (
    "jan", "january", "feb", "february", "mar", "march", "apr", "april", "may", "jun", "june",
    "jul", "july", "aug", "august", "sep", "sept", "september", "oct", "october", "nov",
    "november", "dec", "december",
)

#: capitalised words that follow "I'm", "Hi", "Thanks," … without being a name
NOT_NAMES = frozenset(
    """
    a an the not just also so very really quite interested looking trying wondering planning
    thinking new here back sure happy glad keen curious sorry from with on in at for of to
    free starter team teams business enterprise pro plus premium basic standard growth
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december australian american british
    english canadian kiwi aussie indian chinese european it this that these those what how
    why when where who which there yes no ok okay great good fine well again you your we
    our us i me my please hope welcome today tomorrow tonight morning afternoon evening night
    ai api ceo cto cfo coo manager director admin administrator developer engineer marketer
    marketing founder owner student teacher agency everyone everybody all folks guys
    customer customers friend friends sir madam colleague colleagues support sales billing
    heaps mate ethos ethosprompt prompt in-house currently still already about after before finally
    hello hi hey thanks thank cheers regards best sincerely ta thx kind warm many yours
    again also actually based using building running working writing reading getting
    going moving new-ish one two three four five six seven eight nine ten ready done
    finished excited confused stuck annoyed frustrated impressed evaluating comparing
    considering interested, wanting needing asking emailing calling messaging reaching
    really only currently actually finally usually likely mostly simply totally absolutely
    definitely probably honestly seriously truly literally personally basically exactly
    excited thrilled worried concerned surprised disappointed delighted pleased
    world valued dear assistant bot claude copilot google microsoft slack hubspot
    salesforce zapier notion canva shopify
    gold silver bronze platinum annual monthly yearly trial beta alpha
    gpt chatgpt claude gemini llm saas b2b b2c crm seo faq
    """.split()
)

#: lowercase words that end a name written after "my name is" (users often skip capitals)
NAME_STOP = frozenset(
    """
    and or but i im i'm id i'd ill i'll ive i've from here at with on in the a an is was
    and, please pls can could would will want wanted need needed like looking trying
    wondering about for of to by my your our we you it this that what how why when where
    who which thanks thank cheers regards hi hello hey so just also too as if then than
    have has had do does did am are be been being not no yes ok okay mate
    """.split()
)

#: everyday words that may follow "hi", "thanks", "I'm", "this is" … in a text without
#: capitals, where only the word itself can tell a name from the rest of a sentence
COMMON_WORDS = frozenset(
    """
    there everyone all team teams guys folks mate again again, heaps lots much so very a lot
    for in advance anyway though too both indeed
    plan plans price prices pricing quote invoice bill billing account accounts payment
    order orders option options tier tiers product products service services support sales
    feature features question questions answer answers reply help info information details
    update updates trial demo call email message note link page site website app tool
    seat seats user users licence license data report reports file files form forms thing
    things stuff way ways idea ideas time day week month year today tomorrow weekend
    deal offer discount price quick fast great good nice cool awesome amazing lovely perfect
    fine ok okay sure right wrong correct true false free paid cheap expensive available
    able unable ready new old big small large full whole main other same different
    current latest next last first second third final only own real best better worse
    happy glad keen sorry curious interested excited aware unsure confused stuck afraid
    busy late early away back out off over up down about around after before since until
    still just also even only really actually already almost always never often sometimes
    here now then later soon yet well more most less least few many some any each every
    no not nothing something anything everything someone anyone nobody somebody
    is was be been being am are were will would can could should may might must shall
    do does did done doing have has had get got go goes went gone come came make made
    take took see saw look looks want wanted need needed like liked love loved know knew
    think thought try tried use used work works worked ask asked tell told say said
    give gave send sent pay paid buy bought sign signed join joined switch switched
    cancel cancelled upgrade upgraded downgrade renew renewed move moved start started
    stop stopped keep kept find found check checked confirm confirmed wonder hope
    based located new-ish part member owner manager lead head responsible charge
    writing calling emailing reaching following replying asking following confused
    the a an to of and or but if as at by on in from with into onto for per via
    your you our we us my me i it its this that these those they them their he she his her
    what which who whom whose why how when where whether
    one two three four five six seven eight nine ten hundred thousand million
    please pls cheers thanks thank regards best kind warm many yours truly
    morning afternoon evening night
    word excel office outlook teams azure sql windows mac linux ios android web
    click apply register subscribe login log read learn download tap listed shown included
    attached linked posted more details instructions steps below above
    """.split()
)
