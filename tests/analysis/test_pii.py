"""PII detection, redaction and audio spans (analysis/pii.py), Chinese and English.

Valid ID and card numbers are computed here with the published algorithms (ISO 7064
MOD 11-2, Luhn), written independently of the module, so a wrong algorithm in the
module cannot agree with itself."""

from __future__ import annotations

import itertools

import pytest

from analysis.pii import PLACEHOLDERS, PiiSpan, audio_spans, find_pii, redact
from core.schemas import Word

# Reference algorithms ---------------------------------------------------------------


def id_check(first17: str) -> str:
    """GB 11643-1999 check character (ISO 7064 MOD 11-2)."""
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(first17))
    return "10X98765432"[total % 11]


def resident_id(first17: str) -> str:
    assert len(first17) == 17
    return first17 + id_check(first17)


def luhn_complete(payload: str) -> str:
    """``payload`` plus the Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(payload)):
        n = int(ch) * (2 if i % 2 == 0 else 1)  # doubled: every second digit from the check digit
        total += n - 9 if n > 9 else n
    return payload + str((10 - total % 10) % 10)


def luhn_ok(number: str) -> bool:
    return luhn_complete(number[:-1]) == number


def found(text: str, language: str = "en", role: str | None = None) -> list[tuple[str, str]]:
    return [(s.kind, s.text) for s in find_pii(text, language, role=role)]


def test_reference_algorithms_agree_with_published_examples() -> None:
    assert id_check("11010519491231002") == "X"  # the GB 11643 example
    assert id_check("44052418800101001") == "4"  # its other example, 440524188001010014
    for card in ("4111111111111111", "5500000000000004", "378282246310005", "6011111111111117"):
        assert luhn_ok(card)
    assert not luhn_ok("4111111111111112")


# Resident ID numbers ----------------------------------------------------------------

VALID_IDS = [
    "11010519491231002X",  # GB 11643 example
    resident_id("11010519900307451"),  # ends in X
    resident_id("44030619851122123"),
    resident_id("31011520000229876"),  # born 29 February 2000
    resident_id("51010719780615002"),
]


@pytest.mark.parametrize("number", VALID_IDS)
def test_valid_resident_ids(number: str) -> None:
    assert found(f"我的身份证号是{number}，请核对", "zh") == [("id_card", number)]
    assert found(f"My ID number is {number}.") == [("id_card", number)]
    lower = number.lower()
    assert found(f"身份证{lower}", "zh") == [("id_card", lower)]


def test_id_grouped_and_full_width() -> None:
    number = resident_id("11010519900307451")
    grouped = f"{number[:6]} {number[6:14]} {number[14:]}"
    assert found(f"ID {grouped} thanks") == [("id_card", grouped)]
    wide = "".join(chr(ord(c) + 0xFEE0) for c in number)  # full-width digits and Ｘ
    assert found(f"身份证号{wide}。", "zh") == [("id_card", wide)]


def test_invalid_ids_are_not_ids() -> None:
    good = resident_id("44030619851122123")
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    bad_date = resident_id("44030619851332123")  # month 13, checksum right
    no_province = resident_id("99030619851122123")  # no province 99
    future = resident_id("44030621991122123")  # born in 2199
    for number in (wrong_check, bad_date, no_province, future, "123456789012345678"):
        assert [k for k, _ in found(f"号码是{number}", "zh")] != ["id_card"], number
    assert found(f"号码是{wrong_check}", "zh") == []  # and nothing else either


def test_legacy_15_digit_id() -> None:
    assert found("老身份证号110105490307451", "zh") == [("id_card", "110105490307451")]
    assert found("老身份证号110105491307451", "zh") == []  # month 13


def test_spoken_id_in_chinese_and_english() -> None:
    number = resident_id("11010519900307451")  # ...451X
    zh = "".join("零幺二三四五六七八九"[int(c)] for c in number[:17]) + "叉"
    assert found(f"身份证号是{zh}对吧", "zh") == [("id_card", zh)]
    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    en = " ".join(words[int(c)] for c in number[:17]) + " X"
    assert found(f"Oh, it's {en}.") == [("id_card", en)]


# Bank cards -------------------------------------------------------------------------

UNIONPAY = luhn_complete("622202123456789012")  # 19 digits


@pytest.mark.parametrize("card", [
    "4111 1111 1111 1111", "4111-1111-1111-1111", "4111111111111111", "5500 0000 0000 0004",
    "3782 822463 10005", "378282246310005", "6011111111111117", UNIONPAY,
    f"{UNIONPAY[:4]} {UNIONPAY[4:8]} {UNIONPAY[8:12]} {UNIONPAY[12:16]} {UNIONPAY[16:]}",
])
def test_luhn_valid_cards(card: str) -> None:
    assert found(f"My card number is {card}, thanks.") == [("bank_card", card)]
    assert found(f"卡号是{card}。", "zh") == [("bank_card", card)]


def test_cards_that_fail_luhn_or_have_no_card_prefix_stay() -> None:
    assert found("Card 4111 1111 1111 1112 please.") == []
    order = luhn_complete("202403151234567")  # Luhn-valid, but a date-based order number
    assert luhn_ok(order)
    assert found(f"订单号{order}已经受理", "zh") == []
    failing = "6222021234567890123"
    assert not luhn_ok(failing)
    assert found(f"合同号{failing}", "zh") == []


def test_two_cards_in_one_run_are_two_spans() -> None:
    text = "4111111111111111 4012888888881881"
    assert found(text) == [("bank_card", "4111111111111111"), ("bank_card", "4012888888881881")]


def test_spoken_card_numbers() -> None:
    en = "four" + " one" * 15  # 4111 1111 1111 1111
    assert found(f"The card is {en}.") == [("bank_card", en)]
    digits = "零幺二三四五六七八九"
    zh_card = " ".join("".join(digits[int(c)] for c in UNIONPAY[i:i + 4]) for i in range(0, 19, 4))
    assert found(f"卡号{zh_card}", "zh") == [("bank_card", zh_card)]


# Phones -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "phone", "language"), [
    ("我的手机号是13800138000。", "13800138000", "zh"),
    ("手机138 0013 8000", "138 0013 8000", "zh"),
    ("手机号138-0013-8000好的", "138-0013-8000", "zh"),
    ("电话+86 138 0013 8000", "+86 138 0013 8000", "zh"),
    ("电话8613800138000", "8613800138000", "zh"),
    ("电话0086 13800138000", "0086 13800138000", "zh"),
    ("座机0571-88888888", "0571-88888888", "zh"),
    ("座机是010-12345678。", "010-12345678", "zh"),
    ("座机(010)12345678", "(010)12345678", "zh"),
    ("电话是1 3 8 0 0 1 3 8 0 0 0", "1 3 8 0 0 1 3 8 0 0 0", "zh"),
    ("Call me at (555) 123-4567.", "(555) 123-4567", "en"),
    ("Call me at 555-123-4567.", "555-123-4567", "en"),
    ("It's 555.123.4567", "555.123.4567", "en"),
    ("My number is +1 555 123 4567", "+1 555 123 4567", "en"),
    ("My number is 1-555-123-4567", "1-555-123-4567", "en"),
    ("My number is 2125551234", "2125551234", "en"),
    ("Ring me on 07700 900123", "07700 900123", "en"),
    ("Ring me on +44 7700 900123", "+44 7700 900123", "en"),
    ("The office is 020 7946 0958", "020 7946 0958", "en"),
    ("Office +44 (0)20 7946 0958 ok", "+44 (0)20 7946 0958", "en"),
    ("Mobile +33 6 12 34 56 78", "+33 6 12 34 56 78", "en"),
    ("ｍｙ　ｎｕｍｂｅｒ　１３８００１３８０００", "１３８００１３８０００", "en"),
])
def test_phones(text: str, phone: str, language: str) -> None:
    assert found(text, language) == [("phone", phone)]


@pytest.mark.parametrize(("text", "phone", "language"), [
    ("手机号幺三八零零一三八零零零", "幺三八零零一三八零零零", "zh"),
    ("手机号是一三八，零零一三，八零零零。", "一三八，零零一三，八零零零", "zh"),
    ("手机号是一三八 零零一三 八零零零", "一三八 零零一三 八零零零", "zh"),
    ("手机号138零零一三8000", "138零零一三8000", "zh"),
    ("It's one three eight zero zero one three eight zero zero zero.",
     "one three eight zero zero one three eight zero zero zero", "en"),
    ("Sure, five five five, one two three, four five six seven.",
     "five five five, one two three, four five six seven", "en"),
    ("Five five five one two three four five six seven", "Five five five one two three four five six seven",
     "en"),
    ("It's oh seven seven double oh nine double oh one two three",
     "oh seven seven double oh nine double oh one two three", "en"),
])
def test_spoken_phones(text: str, phone: str, language: str) -> None:
    assert found(text, language) == [("phone", phone)]


# What must stay ---------------------------------------------------------------------


@pytest.mark.parametrize(("text", "language"), [
    ("The amount due is $1,260.50, payable by 2024-03-15.", "en"),
    ("You paid $13,800 on March 15, 2024 and 1,260.50 dollars in 2023.", "en"),
    ("Your balance is 12345678.90 and the due date is 03/15/2024 at 10:30.", "en"),
    ("That's 5551234567 dollars?", "en"),
    ("RMB 13800138000", "en"),
    ("本期应还1260元，还款日是2024年3月15日。", "zh"),
    ("一千二百六十元，二零二四年三月十五日之前还清", "zh"),
    ("您本月需还款13800138000元", "zh"),
    ("我们2023 2024 2025三年都有记录", "zh"),
    ("The card ending in 4821, is that right?", "en"),
    ("The last four digits are four eight two one.", "en"),
    ("尾号4821的卡，身份证后四位三五二八", "zh"),
    ("卡号后四位是3528，对吗", "zh"),
    ("A masked card 6222 **** **** 1234 is fine.", "en"),
    ("Our hotline is 400-820-8820, or 800-555-0199, or 0800 123 4567.", "en"),
    ("客服热线4008208820", "zh"),
    ("Reference AB12345678901 and code 4111111111111111XY", "en"),
    ("您好，我是客服小王，工号1234", "zh"),
    ("我叫你别打了，我叫他们明天打", "zh"),
    ("We looked at amazon dot com yesterday.", "en"),
    ("The company name is Acme Finance, the app name's Quick Loan.", "en"),
    ("这个APP的名字是快乐借，公司名字叫信达金融", "zh"),
    ("Oh, one moment please, I'll check.", "en"),
])
def test_not_pii(text: str, language: str) -> None:
    assert found(text, language) == []


# Names and e-mail -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "name", "language"), [
    ("My name is John Smith.", "John Smith", "en"),
    ("Yes, my name's Mary-Jane O'Brien and I'm calling about my loan", "Mary-Jane O'Brien", "en"),
    ("The name on the account is Robert McDonald.", "Robert McDonald", "en"),
    ("My full name is Ana Lucia Perez", "Ana Lucia Perez", "en"),
    ("Surname is Thompson, first name is Alice", "Thompson", "en"),
    ("My name is Mr. David Lee", "David Lee", "en"),
    ("my name is John And I want to pay", "John", "en"),
    ("我叫王小明，想查一下账单", "王小明", "zh"),
    ("我叫王小明身份证号是多少", "王小明", "zh"),
    ("我叫张伟想问一下还款", "张伟", "zh"),
    ("我的名字是李娜今年三十岁", "李娜", "zh"),
    ("本人姓名欧阳娜娜。", "欧阳娜娜", "zh"),
    ("持卡人姓名是陈静怡对吗", "陈静怡", "zh"),
    ("姓名：赵磊", "赵磊", "zh"),
    ("名字是刘洋", "刘洋", "zh"),
    ("请问您的名字是刘洋吗", "刘洋", "zh"),
    ("Yes, name is Carter", "Carter", "en"),
    ("His name is Tom Brown, he's my husband", "Tom Brown", "en"),
])
def test_names_after_cues(text: str, name: str, language: str) -> None:
    assert ("name", name) in found(text, language)


def test_second_name_cue_also_found() -> None:
    assert found("Surname is Thompson, first name is Alice") == [("name", "Thompson"), ("name", "Alice")]


@pytest.mark.parametrize(("text", "names", "language"), [
    ("Sure, it's Martin Cole.", ["Martin Cole"], "en"),
    ("Hi, this is Sarah speaking from Acme Finance.", ["Sarah"], "en"),
    ("Good morning Mrs Abernathy, thanks for calling back.", ["Abernathy"], "en"),
    ("I spoke to Priya Raman last week and to Tom.", ["Priya Raman", "Tom"], "en"),
    ("yes this is hannah speaking", ["hannah"], "en"),
    ("请问是吴昊先生吗？", ["吴昊"], "zh"),
    ("好的李先生，我帮您查一下。", ["李"], "zh"),
    ("王秀英让我打这个电话的。", ["王秀英"], "zh"),
    ("您好欧阳娜娜，这边是客服。", ["欧阳娜娜"], "zh"),
])
def test_names_without_cues(text: str, names: list[str], language: str) -> None:
    assert found(text, language) == [("name", n) for n in names]


@pytest.mark.parametrize(("text", "language"), [
    ("Will you be able to pay on Friday? Mark it in your diary.", "en"),
    ("Okay, thanks. Sure, that's fine, Brightline Credit will write to you.", "en"),
    ("Oh, one moment please.", "en"),
    ("请把这张卡绑定上，谢谢。", "zh"),
    ("这位先生，您好。", "zh"),
    ("马上给您办理，周五之前还就可以。", "zh"),
])
def test_capitalised_words_and_common_chinese_words_are_not_names(text: str, language: str) -> None:
    assert found(text, language) == []


@pytest.mark.parametrize(("text", "language"), [
    ("Your contract number is 3201 2026 1105 0017.", "en"),
    ("The case number is four four one seven two two nine one zero zero eight eight.", "en"),
    ("Invoice 9876543210 is attached.", "en"),
    ("合同编号是3201202611050017。", "zh"),
    ("案件编号：3301 0620 1188 7723", "zh"),
    ("申请编号是一三八零零一三八零零零。", "zh"),
])
def test_reference_numbers_are_not_cards_or_phones(text: str, language: str) -> None:
    assert found(text, language) == []


def test_agent_self_introduction_is_not_customer_pii() -> None:
    assert found("Hi, this is Sarah speaking from Acme Finance.", "en", role="agent") == []
    assert found("您好，我是安途消费金融的林芳。", "zh", role="agent") == []
    assert found("Hi, my name is Sarah, how can I help?", "en", role="agent") == []
    assert found("您好，我叫小王，很高兴为您服务", "zh", role="agent") == []
    assert found("So your name is John Smith, correct?", "en", role="agent") == [("name", "John Smith")]
    assert found("请问您的姓名是王小明吗", "zh", role="agent") == [("name", "王小明")]
    # Without a role the cue alone decides.
    assert found("Hi, my name is Sarah, how can I help?") == [("name", "Sarah")]


@pytest.mark.parametrize(("text", "email", "language"), [
    ("My email is john.smith@example.com.", "john.smith@example.com", "en"),
    ("邮箱是zhangsan@163.com，谢谢", "zhangsan@163.com", "zh"),
    ("QQ邮箱123456789@qq.com", "123456789@qq.com", "zh"),
    ("邮箱ｚｈａｎｇ＠ｑｑ．ｃｏｍ", "ｚｈａｎｇ＠ｑｑ．ｃｏｍ", "zh"),
    ("my email is john dot smith at gmail dot com", "john dot smith at gmail dot com", "en"),
    ("send it to jsmith99 at yahoo dot co dot uk please", "jsmith99 at yahoo dot co dot uk", "en"),
    ("邮箱是zhangsan艾特qq点com", "zhangsan艾特qq点com", "zh"),
    ("email me at mary_lee at acme-bank dot com", "mary_lee at acme-bank dot com", "en"),
])
def test_emails(text: str, email: str, language: str) -> None:
    assert found(text, language) == [("email", email)]


# Several kinds, redaction -----------------------------------------------------------


def test_real_english_utterance() -> None:
    text = ("Sure, my name is John Smith, the card is 4111 1111 1111 1111 and you can reach me "
            "on (555) 123-4567 or john.smith@example.com. I owe $1,260.50, card ending in 1111.")
    spans = find_pii(text, "en")
    assert [(s.kind, s.text) for s in spans] == [
        ("name", "John Smith"), ("bank_card", "4111 1111 1111 1111"), ("phone", "(555) 123-4567"),
        ("email", "john.smith@example.com")]
    assert redact(text, spans) == (
        "Sure, my name is [NAME], the card is [CARD] and you can reach me on [PHONE] or [EMAIL]. "
        "I owe $1,260.50, card ending in 1111.")


def test_real_chinese_utterance() -> None:
    number = resident_id("11010519900307451")
    text = (f"我叫王小明，身份证号{number}，手机幺三八零零一三八零零零，卡号{UNIONPAY}，"
            "这期还款1260元，尾号4821。")
    spans = find_pii(text, "zh")
    assert [s.kind for s in spans] == ["name", "id_card", "phone", "bank_card"]
    assert redact(text, spans) == ("我叫[NAME]，身份证号[ID]，手机[PHONE]，卡号[CARD]，"
                                   "这期还款1260元，尾号4821。")


def test_spans_are_sorted_non_overlapping_and_exact() -> None:
    text = ("my name is Ann Lee, 13800138000 13900139000, ann@qq.com, 4111111111111111, "
            f"{resident_id('44030619851122123')}, 0571-88888888")
    spans = find_pii(text, "en")
    assert len(spans) == 7
    assert spans == sorted(spans, key=lambda s: s.start)
    for a, b in itertools.pairwise(spans):
        assert a.end <= b.start
    for s in spans:
        assert text[s.start:s.end] == s.text
    assert {s.kind for s in spans} == set(PLACEHOLDERS)


def test_redact_placeholders_and_errors() -> None:
    text = "a 1 b 2 c"
    spans = [PiiSpan("phone", 6, 7, "2"), PiiSpan("name", 2, 3, "1")]  # any order
    assert redact(text, spans) == "a [NAME] b [PHONE] c"
    assert redact(text, []) == text
    for kind, placeholder in PLACEHOLDERS.items():
        assert redact("x", [PiiSpan(kind, 0, 1, "x")]) == placeholder
    with pytest.raises(ValueError, match="overlapping"):
        redact(text, [PiiSpan("phone", 0, 3, "a 1"), PiiSpan("name", 2, 5, "1 b")])
    with pytest.raises(ValueError, match="does not match"):
        redact(text, [PiiSpan("phone", 0, 1, "z")])
    with pytest.raises(ValueError, match="unknown PII kind"):
        redact(text, [PiiSpan("ssn", 0, 1, "a")])


def test_empty_text() -> None:
    assert find_pii("", "en") == []


# Audio spans ------------------------------------------------------------------------


def words(*items: tuple[str, float, float]) -> list[Word]:
    return [Word(text=t, start=s, end=e) for t, s, e in items]


def utterance_text(ws: list[Word]) -> str:
    return "".join(w.text for w in ws).strip()  # as transcribe.pipeline.join_words builds it


def test_audio_spans_english() -> None:
    ws = words((" Sure,", 1.0, 1.3), (" my", 1.4, 1.5), (" name", 1.5, 1.7), (" is", 1.7, 1.8),
               (" John", 1.9, 2.2), (" Smith.", 2.2, 2.6), (" Call", 3.0, 3.2), (" me", 3.2, 3.3),
               (" on", 3.3, 3.4), (" (555)", 3.5, 4.0), (" 123-", 4.0, 4.4), ("4567", 4.4, 5.0),
               (" thanks.", 5.2, 5.6))
    text = utterance_text(ws)
    spans = find_pii(text, "en")
    assert [(s.kind, s.text) for s in spans] == [("name", "John Smith"), ("phone", "(555) 123-4567")]
    assert audio_spans(ws, spans) == [(1.9, 2.6), (3.5, 5.0)]


def test_audio_spans_chinese_and_partial_words() -> None:
    ws = words(("我的", 0.0, 0.3), ("手机号", 0.3, 0.8), ("是", 0.8, 0.9), ("幺三八", 1.0, 1.8),
               ("零零一三", 1.9, 2.8), ("八零零零", 2.9, 3.7), ("，", 3.7, 3.7), ("我叫王", 4.0, 4.5),
               ("小明", 4.5, 5.0))
    text = utterance_text(ws)
    spans = find_pii(text, "zh")
    assert [(s.kind, s.text) for s in spans] == [("phone", "幺三八零零一三八零零零"), ("name", "王小明")]
    # The name starts inside the word 我叫王: that whole word is bleeped.
    assert audio_spans(ws, spans) == [(1.0, 3.7), (4.0, 5.0)]


def test_audio_spans_leading_space_and_single_word() -> None:
    ws = words(("  13800138000", 0.5, 1.5), (" ok", 1.6, 1.8))
    spans = find_pii(utterance_text(ws), "zh")
    assert spans == [PiiSpan("phone", 0, 11, "13800138000")]
    assert audio_spans(ws, spans) == [(0.5, 1.5)]
    assert audio_spans(ws, []) == []


def test_audio_spans_reject_spans_from_another_text() -> None:
    ws = words((" call", 0.0, 0.3), (" me", 0.3, 0.5))
    with pytest.raises(ValueError):
        audio_spans(ws, [PiiSpan("phone", 0, 11, "13800138000")])
