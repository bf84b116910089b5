"""What the synthetic corpus is made of: emotion profiles, the sentence bank and the speaker voices.

An :class:`EmotionProfile` gives the mean prosody of one emotion as offsets from a speaker's neutral
speech (pitch level in semitones, pitch range as a factor, speaking rate as a factor, level in dB,
spectral tilt, the shape of the pitch contour, tremor) plus the SSML devices espeak-ng renders
(clause-final punctuation, a hesitation pause, a drawn-out stressed word, the whisper variant). The
numbers are rounded readings of the acoustic literature on acted emotional speech; each profile
names where its idea comes from. Per-utterance gaussian variation (``SynthConfig.variation``) and a
per-speaker expressivity factor are added on top in :mod:`emotionthinker.synth.corpus`, so that the
classes overlap the way real ones do.

The sentence bank holds emotion-neutral sentences (rendered in every emotion, so only prosody tells
the emotions apart) and emotion-laden sentences whose content matches one emotion.
"""

from __future__ import annotations

from dataclasses import dataclass

CONTOURS: tuple[str, ...] = ("level", "falling", "rising", "rising-falling", "falling-rising")


@dataclass(frozen=True)
class EmotionProfile:
    """Mean prosody of one emotion, relative to the same speaker's neutral speech."""

    code: str  # short code used in utterance ids
    pitch_shift_st: float  # F0 level, semitones above the speaker's neutral median
    range_scale: float  # factor on F0 excursions around the median
    rate_factor: float  # speaking rate relative to the speaker's neutral rate (>1 = faster)
    gain_db: float  # speech level relative to neutral
    tilt_db_per_oct: float  # spectral tilt above 500 Hz (vocal effort: + brighter, - darker)
    contour: str  # main pitch-contour shape, one of CONTOURS
    contour_st: float  # size of that shape in semitones
    # other shapes taken instead now and then: (shape, probability at variation 1, size in semitones)
    alt_contours: tuple[tuple[str, float, float], ...] = ()
    declination_st: float = 2.0  # gentle fall over the utterance, present in all speech
    final_lengthening: float = 1.0  # duration factor reached at the end of the utterance
    tremor_st: float = 0.0  # depth of a 5-7 Hz F0 modulation (0 = none)
    final_punct: str = "."  # clause-final punctuation given to espeak-ng (its own intonation type)
    hesitation_ms: float = 0.0  # a pause before the stressed word (0 = none)
    drawl: bool = False  # the stressed word is drawn out (SSML prosody rate x-slow)
    whisper: bool = False  # rendered with espeak-ng's whisper variant (no voicing)


PROFILES: dict[str, EmotionProfile] = {
    # baseline read speech with gentle declination ('t Hart, Collier & Cohen 1990)
    "neutral": EmotionProfile(
        code="neu", pitch_shift_st=0.0, range_scale=1.0, rate_factor=1.0, gain_db=0.0, tilt_db_per_oct=0.0,
        contour="level", contour_st=0.0, alt_contours=(("falling", 0.2, 1.5),), declination_st=2.0,
    ),
    # hot anger: raised F0 and energy, wider range, fast, brighter spectrum, falling accents
    # (Banse & Scherer 1996; Juslin & Laukka 2003)
    "angry": EmotionProfile(
        code="ang", pitch_shift_st=4.0, range_scale=1.45, rate_factor=1.14, gain_db=6.0, tilt_db_per_oct=1.5,
        contour="falling", contour_st=4.0, alt_contours=(("level", 0.15, 0.0),), final_punct="!",
    ),
    # happiness/joy: high F0, much wider range, slightly fast, smooth rise-fall (Murray & Arnott 1993)
    "happy": EmotionProfile(
        code="hap", pitch_shift_st=3.0, range_scale=1.6, rate_factor=1.07, gain_db=3.0, tilt_db_per_oct=0.8,
        contour="rising-falling", contour_st=3.5, alt_contours=(("rising", 0.2, 3.0),), final_punct="!",
    ),
    # sadness: low, narrow F0, slow, soft, dark, falling (Murray & Arnott 1993; Juslin & Laukka 2003)
    "sad": EmotionProfile(
        code="sad", pitch_shift_st=-2.5, range_scale=0.55, rate_factor=0.8, gain_db=-6.0, tilt_db_per_oct=-1.5,
        contour="falling", contour_st=2.5, declination_st=2.5, final_lengthening=1.3,
    ),
    # fear: high F0, fast, narrow-ish range, irregular/trembling voice (Scherer 2003; Juslin & Laukka 2003)
    "fear": EmotionProfile(
        code="fea", pitch_shift_st=5.0, range_scale=0.8, rate_factor=1.2, gain_db=1.0, tilt_db_per_oct=0.5,
        contour="level", contour_st=0.0, alt_contours=(("rising", 0.3, 3.0),), tremor_st=0.9, final_punct="!",
    ),
    # surprise: high, wide F0 with a strong final rise (Schröder 2001, "Emotional speech synthesis: a review")
    "surprise": EmotionProfile(
        code="sur", pitch_shift_st=3.5, range_scale=1.5, rate_factor=1.0, gain_db=3.0, tilt_db_per_oct=0.5,
        contour="rising", contour_st=7.0, declination_st=0.0, final_punct="?",
    ),
    # whispering: no voicing, low energy, slightly slow (Ito, Takeda & Itakura 2005)
    "whisper": EmotionProfile(
        code="whi", pitch_shift_st=0.0, range_scale=0.7, rate_factor=0.9, gain_db=-8.0, tilt_db_per_oct=0.0,
        contour="level", contour_st=0.0, final_lengthening=1.1, whisper=True,
    ),
    # uncertainty: questioning rise or fall-rise, slower, a hesitation pause (Krahmer & Swerts 2005; Wells 2006)
    "confused": EmotionProfile(
        code="con", pitch_shift_st=1.0, range_scale=1.1, rate_factor=0.87, gain_db=-1.0, tilt_db_per_oct=0.0,
        contour="rising", contour_st=4.5, alt_contours=(("falling-rising", 0.3, 3.5),), declination_st=0.5,
        final_lengthening=1.2, final_punct="?", hesitation_ms=380.0,
    ),
    # contempt/disgust: low F0, slow, falling, drawn-out stressed word (Banse & Scherer 1996; Scherer 2003)
    "contempt or disgust": EmotionProfile(
        code="dis", pitch_shift_st=-2.0, range_scale=0.95, rate_factor=0.82, gain_db=0.0, tilt_db_per_oct=-0.5,
        contour="falling", contour_st=3.0, alt_contours=(("rising-falling", 0.2, 2.5),), final_lengthening=1.25,
        drawl=True,
    ),
}  # fmt: skip

# Standard deviations of the per-utterance variation at SynthConfig.variation == 1.
VARIATION_SD: dict[str, float] = {
    "pitch_shift_st": 1.2,
    "log_range_scale": 0.15,  # applied to log(range_scale)
    "log_rate_factor": 0.06,
    "gain_db": 2.0,
    "tilt_db_per_oct": 0.4,
    "contour_rel": 0.25,  # relative sd of contour_st and tremor_st
    "declination_st": 0.5,
    "hesitation_ms": 100.0,
}
SPEAKER_EXPRESSIVITY_SD = 0.2  # per-speaker factor on every offset from neutral, at variation 1

# Emotion-neutral sentences: rendered in every emotion. 5-9 words, so that clips last 1.5-4 s.
NEUTRAL_SENTENCES: tuple[str, ...] = (
    "The train leaves the station at seven.",
    "The meeting has been moved to Thursday afternoon.",
    "She put the blue folder on the kitchen table.",
    "The library closes at six on weekdays.",
    "He walked to the corner shop to buy bread.",
    "The report is in the second drawer.",
    "We will paint the fence next weekend.",
    "The bus stops outside the old post office.",
    "My brother lives in a small town by the river.",
    "The package arrived this morning with the letters.",
    "They are moving the desks to the third floor.",
    "Turn left after the bridge and keep going.",
)

# Emotion-laden sentences: content that agrees with one emotion.
LADEN_SENTENCES: dict[str, tuple[str, ...]] = {
    "neutral": (
        "The form needs a signature on every page.",
        "The temperature today is about average for May.",
        "Please file the receipts by the end of the month.",
        "The printer is on the second floor, next to the lift.",
        "The software update installs in about ten minutes.",
        "The invoice lists the items in alphabetical order.",
    ),
    "happy": (
        "I got the job, this is the best day ever!",
        "We won the final, I can't stop smiling!",
        "Your present is wonderful, thank you so much!",
        "The whole family is coming home for the holidays!",
        "I love this song, it makes me so happy!",
        "We are having a baby in the spring!",
    ),
    "sad": (
        "My old dog died last night.",
        "I miss her more than I can say.",
        "Nobody came to my birthday party.",
        "We had to say goodbye to our home.",
        "I failed the exam again, after all that work.",
        "The hospital called, and the news was bad.",
    ),
    "angry": (
        "You broke my car and lied about it!",
        "Stop interrupting me, I am sick of it!",
        "How dare you read my private letters!",
        "That is the third time you have cheated me!",
        "Get out of my office right now!",
        "They ignored every complaint we ever made!",
    ),
    "contempt or disgust": (
        "This food smells rotten, throw it away.",
        "Your so called plan is a joke.",
        "The floor is covered in filth and grease.",
        "I can't believe anyone would wear that.",
        "He licks his fingers and then touches everything.",
        "What a pathetic excuse for an apology.",
    ),
    "confused": (
        "Wait, which door did you say to use?",
        "I don't understand what this message means.",
        "So the meeting is today, or was it tomorrow?",
        "I thought I left my keys right here.",
        "Why is the map showing a different street?",
        "Sorry, which form am I supposed to sign?",
    ),
    "whisper": (
        "Keep your voice down, the baby is asleep.",
        "Don't tell anyone, but I found the key.",
        "Quiet, they might hear us from the hallway.",
        "Meet me behind the library after dark.",
        "The party is at eight, keep it a secret.",
        "Come closer, I have something to tell you.",
    ),
    "surprise": (
        "You bought me a piano, really?",
        "I can't believe you are here already!",
        "The whole team came back from Paris?",
        "Wow, the garden is full of flowers!",
        "You mean we won the lottery?",
        "She finished the marathon in three hours?",
    ),
    "fear": (
        "Someone is trying to open the back door.",
        "I heard footsteps behind me in the dark.",
        "The brakes are not working, help me!",
        "There is smoke coming from the basement.",
        "Please don't hurt me, take the money.",
        "The water is rising too fast to escape.",
    ),
}

# Words never chosen as the stressed word.
STOPWORDS: frozenset[str] = frozenset(
    "a an the and or but so to of in on at by for from with about after behind into out over "
    "is are was were be been am it its this that these those i me my we our us you your he his him she her "
    "they them their what which who why how than then there here all every any can can't don't did do does "
    "will would have has had not no up right".split()
)

# espeak-ng voices: a language (accent) plus a voice variant. "en" is British English; "en-gb+<variant>"
# is not a valid name in espeak-ng 1.51 (it silently falls back to the default male voice).
ACCENTS: tuple[str, ...] = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-us-nyc")
FEMALE_VARIANTS: tuple[str, ...] = ("f1", "f2", "f3", "f4", "f5", "linda", "belinda", "aunty", "Annie", "steph")
MALE_VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "adam", "john", "max", "edward", "benjamin", "Michael",
)  # fmt: skip
# More variants, used once the ones above are taken (more than 20 speakers), so that up to 32 speakers keep distinct
# voices and no voice is heard in two splits. Kept apart so that a corpus of up to 20 speakers stays what it was.
FEMALE_EXTRA: tuple[str, ...] = ("Alicia", "Andrea", "anika", "steph2", "grandma", "shelby")
MALE_EXTRA: tuple[str, ...] = ("m8", "Andy", "Denis", "Hugo", "Storm", "travis", "victor", "klatt", "Marco", "paul")
WHISPER_VARIANT: dict[str, str] = {"female": "whisperf", "male": "whisper"}

# Pitch analysis range per gender for the manipulation (Hz), wide enough for shifted speech.
PITCH_RANGE: dict[str, tuple[float, float]] = {"female": (100.0, 700.0), "male": (60.0, 450.0)}


def profile_for(label: str) -> EmotionProfile:
    """The profile of ``label``; a clear error for labels the synthetic corpus cannot render."""
    try:
        return PROFILES[label]
    except KeyError:
        raise ValueError(
            f"synthetic corpus: no emotion profile for label '{label}'; synth labels must be among {sorted(PROFILES)}"
        ) from None
