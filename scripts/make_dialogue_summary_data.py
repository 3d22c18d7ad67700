"""Build the embedded Korean + English dialogue-summary sample and its tokenizer (run once; the output is committed).

The dialogues are synthetic: ten everyday scenarios (a moved meeting, a restaurant booking,
a doctor's appointment, a parcel, a film, a loan, a trip, a return, a study date, a
cancelled picnic), each written by hand in Korean and in English, with slots (names,
days, times, places, objects) filled at random (seed 0). Korean particles follow the
final consonant of the word before them (은/는, 이/가, 을/를, 와/과, 으로/로, 아/야).

Writes to src/hpscout/templates/data/dialogue_summary/:
  train.jsonl, dev.jsonl  {"id", "lang", "dialogue", "summary"}; dev is a language-stratified 15%
  tokenizer.json, tokenizer_config.json  a byte-level BPE (at most 2,000 tokens, <pad>=0 </s>=1 <unk>=2)
                                         trained on train.jsonl, for the seq2seq template's tiny T5
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DST = REPO / "src" / "hpscout" / "templates" / "data" / "dialogue_summary"
ROWS_PER_LANGUAGE = 180
DEV_SHARE = 0.15
VOCAB_SIZE = 2000


def _batchim(word: str) -> int:
    """The final consonant index of the word's last Hangul syllable (0: none)."""
    last = word[-1]
    if "가" <= last <= "힣":
        return (ord(last) - 0xAC00) % 28
    return 0


def josa(word: str, pair: str) -> str:
    """``word`` plus the particle form of ``pair`` ("with/without final consonant") that fits it."""
    with_final, without = pair.split("/")
    final = _batchim(word)
    if pair == "으로/로":
        return word + (without if final in (0, 8) else with_final)  # 8 = ㄹ takes 로
    return word + (with_final if final else without)


NAMES_KO = ["민수", "지영", "서연", "현우", "수진", "도윤", "하은", "준호", "예린", "태민"]
NAMES_EN = ["Alex", "Maria", "James", "Priya", "Tom", "Sofia", "Daniel", "Emma", "Ken", "Lucy"]
WEEKDAYS = [("월요일", "Monday"), ("화요일", "Tuesday"), ("수요일", "Wednesday"), ("목요일", "Thursday"), ("금요일", "Friday")]
WEEKEND = [("금요일", "Friday"), ("토요일", "Saturday"), ("일요일", "Sunday")]
DAY_TIMES = [("오전 열 시", "10 am"), ("오전 열한 시", "11 am"), ("오후 두 시", "2 pm"), ("오후 세 시", "3 pm"),
             ("오후 네 시", "4 pm")]
EVENINGS = [("저녁 여섯 시", "6 pm"), ("저녁 일곱 시", "7 pm"), ("저녁 여덟 시", "8 pm")]

Slots = dict[str, tuple[str, str]]


def meeting(s: Slots, a: str, b: str, ko: bool) -> tuple[str, str]:
    day, time, room, task = (s[k][0 if ko else 1] for k in ("day", "time", "room", "task"))
    if ko:
        return (f"{a}: {b} 씨, {day} 회의 시간이 바뀌었다면서요?\n{b}: 네, {josa(time, '으로/로')} 옮겼어요. "
                f"장소는 {josa(room, '이에요/예요')}.\n{a}: 알겠어요. {josa(task, '은/는')} 제가 준비할게요.\n"
                f"{b}: 고마워요. 그럼 {day}에 봬요.",
                f"{day} 회의는 {time}에 {room}에서 열리고, {josa(a, '이/가')} {josa(task, '을/를')} 준비한다.")
    return (f"{a}: {b}, I heard {day}'s meeting was moved?\n{b}: Yes, it's now at {time} in {room}.\n"
            f"{a}: Got it. I'll prepare {task}.\n{b}: Thanks, see you on {day}.",
            f"{day}'s meeting is at {time} in {room}, and {a} will prepare {task}.")


def restaurant(s: Slots, a: str, b: str, ko: bool) -> tuple[str, str]:
    place, people, time, day, request = (s[k][0 if ko else 1] for k in ("place", "people", "time", "day", "request"))
    if ko:
        return (f"{b}: {place}입니다. 무엇을 도와드릴까요?\n{a}: {day} {time}에 {people} 예약하고 싶어요.\n"
                f"{b}: 가능합니다. 성함이 어떻게 되세요?\n{a}: {a}입니다. {request}도 부탁드려요.",
                f"{josa(a, '은/는')} {place}에 {day} {time} {people} 예약을 했고 {josa(request, '을/를')} 요청했다.")
    return (f"{b}: {place}, how can I help you?\n{a}: I'd like a table for {people} on {day} at {time}.\n"
            f"{b}: Sure. May I have your name?\n{a}: It's {a}. Could we also get {request}?",
            f"{a} booked a table for {people} at {place} on {day} at {time} and asked for {request}.")


def doctor(s: Slots, a: str, b: str, ko: bool) -> tuple[str, str]:
    symptom, clinic, day, time = (s[k][0 if ko else 1] for k in ("symptom", "clinic", "day", "time"))
    if ko:
        return (f"{a}: {b} 씨, 요즘 {josa(symptom, '이/가')} 계속돼서 병원에 가 보려고요.\n"
                f"{b}: 그럼 {clinic}에 예약해 보세요. {day} {time}에 자리가 있대요.\n{a}: 좋아요, 바로 예약할게요.",
                f"{josa(a, '은/는')} {symptom} 때문에 {day} {time}에 {clinic} 진료를 예약하기로 했다.")
    return (f"{a}: {b}, I've had {symptom} for days, so I want to see a doctor.\n"
            f"{b}: Then book {clinic}. They have a slot on {day} at {time}.\n{a}: Great, I'll book it now.",
            f"{a} has {symptom} and will book {clinic} on {day} at {time}.")


def parcel(s: Slots, a: str, b: str, ko: bool) -> tuple[str, str]:
    item, place = (s[k][0 if ko else 1] for k in ("item", "place"))
    if ko:
        return (f"{b}: 안녕하세요, 택배 기사입니다. 주문하신 {item} 배송 왔는데 집에 안 계시네요.\n"
                f"{a}: 죄송해요, 지금 밖이에요. {place}에 맡겨 주시겠어요?\n{b}: 네, {place}에 두고 갈게요.",
                f"{josa(a, '은/는')} 배송 온 {josa(item, '을/를')} {place}에 맡겨 달라고 부탁했다.")
    return (f"{b}: Hello, this is the courier. I have {item} you ordered, but no one is home.\n"
            f"{a}: Sorry, I'm out right now. Could you leave it at {place}?\n{b}: Sure, I'll leave it at {place}.",
            f"{a} asked the courier to leave {item} at {place}.")


def film(s: Slots, a: str, b: str, ko: bool) -> tuple[str, str]:
    genre, day, time, place = (s[k][0 if ko else 1] for k in ("genre", "day", "time", "place"))
    if ko:
        return (f"{a}: {josa(b, '아/야')}, {day}에 {genre} 보러 갈래?\n{b}: 좋아! 어디서 볼까?\n"
                f"{a}: {place}에서 {time} 상영이 있어.\n{b}: 그럼 {time}에 {place} 앞에서 만나자.",
                f"{josa(a, '과/와')} {josa(b, '은/는')} {day} {time}에 {place}에서 {josa(genre, '을/를')} 보기로 했다.")
    return (f"{a}: {b}, do you want to see {genre} on {day}?\n{b}: Sure! Where should we watch it?\n"
            f"{a}: There's a showing at {place} at {time}.\n{b}: Then let's meet in front of {place} at {time}.",
            f"{a} and {b} will watch {genre} at {place} on {day} at {time}.")


def loan(s: Slots, a: str, b: str, ko: bool) -> tuple[str, str]:
    item, day = (s[k][0 if ko else 1] for k in ("item", "day"))
    if ko:
        return (f"{a}: {b} 씨, 혹시 {item} 좀 빌릴 수 있을까요?\n{b}: 네, 여기 있어요. 언제 돌려줄 수 있어요?\n"
                f"{a}: {day}까지 꼭 돌려드릴게요.",
                f"{josa(a, '은/는')} {b}에게 {josa(item, '을/를')} 빌리고 {day}까지 돌려주기로 했다.")
    return (f"{a}: {b}, could I borrow {item}?\n{b}: Sure, here you go. When can you give it back?\n"
            f"{a}: I'll return it by {day}, I promise.",
            f"{a} borrowed {item} from {b} and will return it by {day}.")


def trip(s: Slots, a: str, b: str, ko: bool) -> tuple[str, str]:
    city, transport, day, nights = (s[k][0 if ko else 1] for k in ("city", "transport", "day", "nights"))
    if ko:
        return (f"{a}: 이번 휴가 때 {city}에 가려고 해.\n{b}: 좋겠다! 어떻게 가?\n"
                f"{a}: {day} 아침에 {josa(transport, '을/를')} 타고 가서 {nights} 묵을 거야.\n{b}: 사진 많이 찍어 와.",
                f"{josa(a, '은/는')} {day} 아침 {josa(transport, '으로/로')} {city}에 가서 {nights} 묵을 계획이다.")
    return (f"{a}: I'm going to {city} for my vacation.\n{b}: Nice! How are you getting there?\n"
            f"{a}: I'll take the {transport} on {day} morning and stay {nights}.\n{b}: Take lots of pictures.",
            f"{a} will go to {city} by {transport} on {day} morning and stay {nights}.")


def refund(s: Slots, a: str, b: str, ko: bool) -> tuple[str, str]:
    item, reason, how = (s[k][0 if ko else 1] for k in ("item", "reason", "how"))
    if ko:
        return (f"{b}: 무엇을 도와드릴까요?\n{a}: 어제 산 {josa(item, '을/를')} 반품하고 싶어요. {reason}요.\n"
                f"{b}: 영수증 있으세요? {josa(how, '으로/로')} 처리해 드릴게요.\n{a}: 네, 여기 있어요.",
                f"{josa(a, '은/는')} {reason} {josa(item, '을/를')} 반품했고 {josa(how, '으로/로')} 처리받았다.")
    return (f"{b}: How can I help you?\n{a}: I'd like to return the {item} I bought yesterday, because {reason}.\n"
            f"{b}: Do you have the receipt? I'll process it as {how}.\n{a}: Yes, here it is.",
            f"{a} returned the {item} because {reason} and got {how}.")


def study(s: Slots, a: str, b: str, ko: bool) -> tuple[str, str]:
    subject, place, day, time = (s[k][0 if ko else 1] for k in ("subject", "place", "day", "time"))
    if ko:
        return (f"{a}: {josa(b, '아/야')}, 다음 주 {subject} 시험 같이 준비할래?\n{b}: 좋아. 언제 할까?\n"
                f"{a}: {day} {time}에 {place}에서 어때?\n{b}: 좋아, 문제집 가져갈게.",
                f"{josa(a, '과/와')} {josa(b, '은/는')} {day} {time}에 {place}에서 {subject} 시험공부를 하기로 했다.")
    return (f"{a}: {b}, do you want to study for next week's {subject} exam together?\n{b}: Sure. When?\n"
            f"{a}: How about {day} at {time} in {place}?\n{b}: Sounds good, I'll bring the workbook.",
            f"{a} and {b} will study for the {subject} exam on {day} at {time} in {place}.")


def picnic(s: Slots, a: str, b: str, ko: bool) -> tuple[str, str]:
    day, alt = (s[k][0 if ko else 1] for k in ("day", "alt"))
    said, because, en = s["weather"][0], s["weather"][1], s["weather_en"][1]
    if ko:
        return (f"{a}: {josa(b, '아/야')}, {day} 소풍 말인데, 그날 {said}.\n{b}: 아쉽다. 그럼 어떻게 하지?\n"
                f"{a}: 대신 {alt}에 가는 건 어때?\n{b}: 좋아, 그렇게 하자.",
                f"{josa(a, '과/와')} {josa(b, '은/는')} {day}에 {because} 소풍 대신 {alt}에 가기로 했다.")
    return (f"{a}: {b}, about the picnic on {day}, I heard {en}.\n{b}: Too bad. What should we do then?\n"
            f"{a}: How about going to {alt} instead?\n{b}: Okay, let's do that.",
            f"{a} and {b} will go to {alt} instead of the picnic on {day} because {en}.")


Scenario = tuple[Callable[[Slots, str, str, bool], tuple[str, str]], dict[str, list[tuple[str, str]]]]
SCENARIOS: list[Scenario] = [
    (meeting, {"day": WEEKDAYS, "time": DAY_TIMES,
               "room": [("3층 회의실", "the third-floor meeting room"), ("대회의실", "the large conference room"),
                        ("2층 세미나실", "the second-floor seminar room")],
               "task": [("발표 자료", "the slides"), ("회의록", "the minutes"), ("예산표", "the budget sheet")]}),
    (restaurant, {"place": [("한식당 소담", "Sodam Korean restaurant"), ("레스토랑 벨라", "Bella Italian restaurant"),
                            ("초밥집 하루", "Haru sushi bar")],
                  "people": [("두 명", "two"), ("세 명", "three"), ("네 명", "four"), ("다섯 명", "five")],
                  "time": EVENINGS, "day": WEEKEND,
                  "request": [("창가 자리", "a window table"), ("조용한 방", "a quiet room"), ("아기 의자", "a high chair")]}),
    (doctor, {"symptom": [("두통", "a headache"), ("기침", "a cough"), ("허리 통증", "back pain"), ("알레르기", "an allergy")],
              "clinic": [("내과", "the internal medicine clinic"), ("정형외과", "the orthopedic clinic"),
                         ("이비인후과", "the ENT clinic")],
              "day": WEEKDAYS, "time": DAY_TIMES}),
    (parcel, {"item": [("노트북", "the laptop"), ("책상", "the desk"), ("운동화", "the sneakers"),
                       ("커피 머신", "the coffee machine")],
              "place": [("경비실", "the security office"), ("문 앞", "the front door"), ("옆집", "the neighbor's house")]}),
    (film, {"genre": [("공포 영화", "a horror movie"), ("코미디 영화", "a comedy"), ("액션 영화", "an action movie"),
                      ("애니메이션", "an animated film")],
            "day": WEEKEND, "time": EVENINGS,
            "place": [("시내 영화관", "the downtown cinema"), ("쇼핑몰 극장", "the mall theater")]}),
    (loan, {"item": [("우산", "an umbrella"), ("충전기", "a charger"), ("계산기", "a calculator"), ("자전거", "a bike")],
            "day": WEEKDAYS}),
    (trip, {"city": [("부산", "Busan"), ("제주", "Jeju"), ("경주", "Gyeongju"), ("강릉", "Gangneung")],
            "transport": [("기차", "train"), ("버스", "bus"), ("비행기", "plane")], "day": WEEKEND,
            "nights": [("하룻밤", "one night"), ("이틀", "two nights"), ("사흘", "three nights")]}),
    (refund, {"item": [("셔츠", "shirt"), ("재킷", "jacket"), ("모자", "hat"), ("가방", "bag")],
              "reason": [("사이즈가 작아서", "it is too small"), ("색이 사진과 달라서", "the color differs from the photo"),
                         ("흠집이 있어서", "it has a scratch")],
              "how": [("카드 환불", "a card refund"), ("교환", "an exchange"), ("적립금", "store credit")]}),
    (study, {"subject": [("수학", "math"), ("영어", "English"), ("역사", "history"), ("화학", "chemistry")],
             "place": [("도서관", "the library"), ("카페", "the cafe"), ("스터디룸", "the study room")],
             "day": WEEKDAYS, "time": DAY_TIMES}),
    (picnic, {"day": WEEKEND, "alt": [("박물관", "a museum"), ("볼링장", "a bowling alley"), ("실내 수영장", "an indoor pool")],
              "weather": [("비가 온대", "비가 온다고 해서"), ("태풍이 온대", "태풍이 온다고 해서"),
                          ("미세먼지가 심하대", "미세먼지가 심하다고 해서")],
              "weather_en": [("", "it will rain"), ("", "a typhoon is coming"), ("", "the air quality will be bad")]}),
]


def _rows(lang: str, rng: random.Random) -> list[dict[str, str]]:
    ko = lang == "ko"
    names = NAMES_KO if ko else NAMES_EN
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    i = 0
    while len(rows) < ROWS_PER_LANGUAGE:
        fn, slots = SCENARIOS[i % len(SCENARIOS)]
        i += 1
        pick = {k: rng.randrange(len(v)) for k, v in slots.items() if k != "weather_en"}
        if "weather" in pick:
            pick["weather_en"] = pick["weather"]
        filled = {k: slots[k][j] for k, j in pick.items()}
        a, b = rng.sample(names, 2)
        dialogue, summary = fn(filled, a, b, ko)
        if dialogue in seen:
            continue
        seen.add(dialogue)
        rows.append({"id": f"{lang}-{len(rows):03d}", "lang": lang, "dialogue": dialogue, "summary": summary})
    return rows


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _train_tokenizer(texts: list[str]) -> None:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFKC()
    # byte-level: any text in any script encodes without <unk>, and decoding gives the text back
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=["<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                       special_tokens=[("</s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512)
    fast.save_pretrained(str(DST))
    # the class name every transformers >= 4.46 knows (5.x saves its new name, TokenizersBackend)
    config_file = DST / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config.pop("backend", None)
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main() -> int:
    rng = random.Random(0)
    train: list[dict[str, str]] = []
    dev: list[dict[str, str]] = []
    for lang in ("ko", "en"):
        rows = _rows(lang, rng)
        rng.shuffle(rows)
        n_dev = round(len(rows) * DEV_SHARE)
        dev += rows[:n_dev]
        train += rows[n_dev:]
    rng.shuffle(train)
    rng.shuffle(dev)
    DST.mkdir(parents=True, exist_ok=True)
    _write_jsonl(DST / "train.jsonl", train)
    _write_jsonl(DST / "dev.jsonl", dev)
    _train_tokenizer([r["dialogue"] for r in train] + [r["summary"] for r in train])
    print(f"wrote {len(train)} train and {len(dev)} dev rows and a {VOCAB_SIZE}-token tokenizer to {DST}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
