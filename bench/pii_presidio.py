"""The baseline: presidio-analyzer with its pattern recognizers only (no spaCy model).

spaCy's *blank* English pipeline (a tokenizer, shipped with spaCy, nothing downloaded) gives
presidio tokens and lower-cased "lemmas", so its context words still raise scores; the NER
recognizer is removed. The Australian recognizers (ABN, ACN, TFN, Medicare), off by default,
are added. Entity names are mapped to ours where they mean the same thing.
"""

from __future__ import annotations

import logging

#: presidio entity -> ours (presidio has no AU passport/licence, street address or PERSON
#: without a model; its DATE_TIME is any date, so it stands for DATE_OF_BIRTH)
PRESIDIO_TO_OURS = {
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS",
    "AU_TFN": "AU_TFN",
    "AU_MEDICARE": "AU_MEDICARE",
    "AU_ABN": "AU_ABN",
    "AU_ACN": "AU_ACN",
    "US_SSN": "US_SSN",
    "US_PASSPORT": "AU_PASSPORT",
    "US_DRIVER_LICENSE": "AU_DRIVERS_LICENCE",
    "DATE_TIME": "DATE_OF_BIRTH",
}


def build_analyzer():
    """An AnalyzerEngine with pattern recognizers only, Australian ones enabled."""
    import spacy
    import tldextract.tldextract as tx
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
    from presidio_analyzer.predefined_recognizers import (
        AuAbnRecognizer,
        AuAcnRecognizer,
        AuMedicareRecognizer,
        AuTfnRecognizer,
    )

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    # the e-mail recognizer calls tldextract, which fetches the public-suffix list over the
    # network by default: use the snapshot bundled with it (no network in the benchmark)
    tx.TLD_EXTRACTOR = tx.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class BlankSpacyEngine(NlpEngine):
        """Tokens from spacy.blank('en'); no entities, lemmas = lower-cased tokens."""

        def __init__(self) -> None:
            self.nlp = spacy.blank("en")

        def load(self) -> None:
            pass

        def is_loaded(self) -> bool:
            return True

        def process_text(self, text: str, language: str) -> NlpArtifacts:
            doc = self.nlp(text)
            return NlpArtifacts(
                entities=[], tokens=doc, tokens_indices=[t.idx for t in doc],
                lemmas=[t.lower_ for t in doc], nlp_engine=self, language=language,
            )

        def process_batch(self, texts, language, batch_size=1, n_process=1, **kwargs):
            for t in texts:
                yield t, self.process_text(t, language)

        def is_stopword(self, word: str, language: str) -> bool:
            return self.nlp.vocab[word].is_stop

        def is_punct(self, word: str, language: str) -> bool:
            return self.nlp.vocab[word].is_punct

        def get_supported_entities(self):
            return []

        def get_supported_languages(self):
            return ["en"]

    engine = BlankSpacyEngine()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
    registry.recognizers = [
        r for r in registry.recognizers
        if type(r).__name__ not in ("SpacyRecognizer", "StanzaRecognizer", "TransformersRecognizer")
    ]
    for rec in (AuAbnRecognizer, AuAcnRecognizer, AuTfnRecognizer, AuMedicareRecognizer):
        registry.add_recognizer(rec())
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])


def presidio_detector(score_threshold: float = 0.0):
    """text -> list of (our entity, start, end, score), for the benchmark.

    Given the same allow-list as ours (presidio compares the exact matched text).
    """
    from ethos.pii import DEFAULT_ALLOW

    analyzer = build_analyzer()
    allow = list(DEFAULT_ALLOW)

    def run(text: str):
        out = []
        for r in analyzer.analyze(text=text, language="en", score_threshold=score_threshold,
                                  allow_list=allow):
            ent = PRESIDIO_TO_OURS.get(r.entity_type)
            if ent:
                out.append((ent, r.start, r.end, r.score))
        return out

    run.recognizers = sorted(type(r).__name__ for r in analyzer.registry.recognizers)  # type: ignore[attr-defined]
    return run
