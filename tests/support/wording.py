"""Words a goodbye never uses, in each language: guilt ("we're sad to see you go") and the
pressure of a countdown. The cancellation confirmation and the cancel page are held to them."""

GUILT = {
    "en": ["sorry to see you go", "disappointed", "miss you", "sad", "shame", "regret", "why did"],
    "fr": ["déçu", "dommage", "triste", "vous nous manquez", "regret", "pourquoi"],
    "es": ["lamentamos", "decepcion", "lástima", "triste", "te echamos de menos", "por qué"],
    "de": ["schade", "enttäuscht", "traurig", "vermissen", "bedauer", "warum"],
}
PRESSURE = {
    "en": ["hurry", "last chance", "only today", "expires in", "before it's too late"],
    "fr": ["dépêchez", "dernière chance", "aujourd'hui seulement", "expire dans"],
    "es": ["date prisa", "última oportunidad", "solo hoy", "caduca en"],
    "de": ["beeilen", "letzte chance", "nur heute", "läuft ab in"],
}


def unkind_words(text: str, lang: str) -> list[str]:
    lowered = text.lower()
    return [word for word in GUILT[lang] + PRESSURE[lang] if word in lowered]
