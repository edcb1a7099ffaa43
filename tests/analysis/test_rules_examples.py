"""Rules with `examples:` (matched by meaning), near misses for tuning, dead air from word
gaps and written pauses, and the default pack on paraphrases it was not written from.

English scores come from the real all-MiniLM-L6-v2 (the packaged wheel), Chinese from
pinyin bigrams; the sentences here are not in the pack."""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.dry_run import dry_run
from analysis.rules import RuleError, evaluate, load_rules, near_misses, parse_rules
from analysis.semantic import chinese_score, segments
from core.schemas import Transcript, Utterance, Word

THREATS = """
rules:
  - id: veiled_threat
    title: Veiled threat
    type: must_not_say
    examples:
      en: ["we know where you work"]
      zh: ["我们知道你在哪上班"]
    threshold: {en: 0.6, zh: 0.7}
"""


def transcript(turns: list[tuple[str, float, float, str]], language: str = "en",
               words: dict[int, list[Word]] | None = None) -> Transcript:
    utterances = [Utterance(speaker=role, role=role, start=start, end=end, text=text,
                            words=(words or {}).get(i, []))
                  for i, (role, start, end, text) in enumerate(turns)]
    return Transcript(call_id="hand-made", language=language,
                      duration=max(u.end for u in utterances) + 0.5, utterances=utterances,
                      engine="test", model="hand", version="1", diarization="none")


def rules_from(text: str, tmp_path: Path) -> object:
    path = tmp_path / "rules.yaml"
    path.write_text(text, "utf-8")
    return load_rules(path)


def test_an_english_paraphrase_matches_and_the_evidence_names_the_example(tmp_path: Path) -> None:
    rules = rules_from(THREATS, tmp_path)
    call = transcript([("agent", 0.5, 3.0, "Hello, this is about your account."),
                       ("agent", 3.5, 6.0, "Look, we're aware of where you're employed, you know.")])
    flags = evaluate(rules, call)  # type: ignore[arg-type]
    assert [f.rule_id for f in flags] == ["veiled_threat"]
    evidence = flags[0].evidence
    assert [e.utterance for e in evidence] == [1]
    assert evidence[0].matched == "we know where you work"
    assert evidence[0].score is not None and 0.6 <= evidence[0].score <= 1.0


def test_unrelated_english_does_not_match(tmp_path: Path) -> None:
    rules = rules_from(THREATS, tmp_path)
    call = transcript([("agent", 0.5, 3.0, "Your payment is due on the twelfth, thanks."),
                       ("agent", 3.5, 6.0, "Is there anything else I can help with today?")])
    assert evaluate(rules, call) == []  # type: ignore[arg-type]


def test_a_chinese_homophone_paraphrase_matches(tmp_path: Path) -> None:
    rules = rules_from(THREATS, tmp_path)
    call = transcript([("agent", 0.5, 3.0, "我跟你说，我们知到你在哪上班。")], language="zh")
    flags = evaluate(rules, call)  # type: ignore[arg-type]
    assert flags and flags[0].evidence[0].matched == "我们知道你在哪上班"
    assert chinese_score("再见", "行了月底前还上在见") == 1.0  # 在见 sounds like 再见
    assert chinese_score("我是他姐姐", "我是") < 0.5  # a short reply is not a long example


def test_near_misses_are_just_under_the_threshold(tmp_path: Path) -> None:
    strict = THREATS.replace("threshold: {en: 0.6, zh: 0.7}", "threshold: 0.99")
    rules = rules_from(strict, tmp_path)
    rule = rules.by_id("veiled_threat")  # type: ignore[attr-defined]
    call = transcript([("agent", 0.5, 3.0, "We're aware of your workplace, pal.")])
    assert evaluate(rules, call) == []  # type: ignore[arg-type]
    assert near_misses(rule, call, margin=0.05) == []
    misses = near_misses(rule, call, margin=0.7)
    assert [(m.utterance, m.example) for m in misses] == [(0, "we know where you work")]
    assert 0.29 <= misses[0].score < 0.99 and misses[0].threshold == 0.99
    outcome = dry_run(rules, [(call, set())], near_miss_margin=0.7)["veiled_threat"]  # type: ignore[arg-type]
    assert outcome.flagged == [] and [c for c, _ in outcome.near_misses] == ["hand-made"]


def test_polarity_keeps_a_denial_from_matching_a_promise(tmp_path: Path) -> None:
    text = """
rules:
  - id: promise
    title: Promise
    type: must_not_say
    polarity: true
    examples: {en: ["you are guaranteed to be approved"]}
    threshold: 0.55
"""
    rules = rules_from(text, tmp_path)
    denial = transcript([("agent", 0.5, 3.0, "I can't guarantee you'll be approved.")])
    promise = transcript([("agent", 0.5, 3.0, "Don't worry, your approval is guaranteed.")])
    assert evaluate(rules, denial) == []  # type: ignore[arg-type]
    assert [f.rule_id for f in evaluate(rules, promise)] == ["promise"]  # type: ignore[arg-type]


def test_threshold_and_examples_are_validated() -> None:
    with pytest.raises(RuleError, match="threshold"):
        parse_rules(THREATS.replace("{en: 0.6, zh: 0.7}", "1.5"), "t.yaml")
    only_examples = parse_rules(THREATS, "t.yaml")[0]
    assert only_examples.threshold_for("zh") == 0.7 and only_examples.threshold_for("fr") == 0.6


def test_segments_keep_decimals_and_window_long_unpunctuated_turns() -> None:
    assert "按年算的利率是15.6%" in segments("按年算的利率是百分之十五点六，按月等额还款。")
    long = segments("hi its rick from brightline this call is being recorded can i confirm "
                    "your date of birth please")
    assert any("this call is being recorded" in s and len(s.split()) <= 10 for s in long)


# Dead air without gaps between utterances -------------------------------------------------


def test_dead_air_inside_one_utterance_from_word_times() -> None:
    words = [Word(text=" Let", start=1.0, end=1.2), Word(text=" me", start=1.2, end=1.4),
             Word(text=" see.", start=1.4, end=1.8), Word(text=" Right,", start=14.0, end=14.4),
             Word(text=" done.", start=14.4, end=14.8)]
    call = transcript([("customer", 0.2, 0.9, "Can you check?"),
                       ("agent", 1.0, 14.8, "Let me see. Right, done.")], words={1: words})
    evidence = {f.rule_id: f.evidence for f in evaluate(load_rules(), call)}["dead_air"]
    assert [(e.start, e.end) for e in evidence] == [(1.8, 14.0)]


@pytest.mark.parametrize("marker", ["[pause 12s]", "(silence: 15 seconds)", "（静音12秒）",
                                    "[12 s pause]"])
def test_dead_air_written_into_a_text_only_transcript(marker: str) -> None:
    call = transcript([("customer", 0.5, 2.0, "Can you check my balance?"),
                       ("agent", 2.5, 6.0, f"Okay. {marker} Sorry, it's two hundred.")])
    flags = {f.rule_id for f in evaluate(load_rules(), call)}
    assert "dead_air" in flags
    short = transcript([("customer", 0.5, 2.0, "Can you check my balance?"),
                        ("agent", 2.5, 6.0, "Okay. [pause 3s] Sorry, it's two hundred.")])
    assert "dead_air" not in {f.rule_id for f in evaluate(load_rules(), short)}


# The default pack on paraphrases -----------------------------------------------------------


def test_default_pack_identity_outcome_counts_as_verification() -> None:
    call = transcript([("agent", 0.5, 4.0, "您好，本次通话将被录音。请说一下您登记的手机号码。"),
                       ("customer", 4.5, 7.0, "幺三九零二八八七六五四。"),
                       ("agent", 7.5, 11.0, "好的，核实通过。您本期应还两千三百元，还款日是十五号。"),
                       ("agent", 11.5, 13.0, "祝您生活愉快，再见。")], language="zh")
    flags = {f.rule_id for f in evaluate(load_rules(), call)}
    assert "account_details_before_verification" not in flags
    assert "closing_missing" not in flags


def test_default_pack_closing_in_other_words_and_an_abrupt_end() -> None:
    polite = transcript([("agent", 0.5, 3.0, "This call is recorded. How can I help?"),
                         ("customer", 3.5, 5.0, "That's all, thanks."),
                         ("agent", 5.5, 8.0, "Lovely, enjoy the rest of your afternoon.")])
    abrupt = transcript([("agent", 0.5, 3.0, "This call is recorded. How can I help?"),
                         ("customer", 3.5, 5.0, "Can I pay next week?"),
                         ("agent", 5.5, 8.0, "You owe us, you pay on Friday."),
                         ("customer", 8.5, 9.0, "Please."),
                         ("agent", 9.5, 11.0, "No. Friday at the latest.")])
    rules = load_rules()
    assert "closing_missing" not in {f.rule_id for f in evaluate(rules, polite)}
    assert "closing_missing" in {f.rule_id for f in evaluate(rules, abrupt)}


# Counter-examples, fuzzy pinyin, identity outcomes --------------------------------------


def test_counter_examples_keep_a_near_miss_from_matching(tmp_path: Path) -> None:
    text = """
rules:
  - id: promise
    title: Promise
    type: must_not_say
    examples: {en: ["you'll definitely be accepted"], zh: ["肯定能批下来"]}
    counter_examples: {en: ["I can't promise you'll be accepted"], zh: ["能不能批下来要看审核"]}
    threshold: {en: 0.5, zh: 0.5}
"""
    rules = rules_from(text, tmp_path)
    honest = transcript([("agent", 0.5, 3.0, "Sorry, I can't promise that you'll be accepted.")])
    promise = transcript([("agent", 0.5, 3.0, "Don't worry, you'll certainly be accepted.")])
    assert evaluate(rules, honest) == []  # type: ignore[arg-type]
    assert [f.rule_id for f in evaluate(rules, promise)] == ["promise"]  # type: ignore[arg-type]
    zh_honest = transcript([("agent", 0.5, 3.0, "能不能批下来，要看审核。")], language="zh")
    assert evaluate(rules, zh_honest) == []  # type: ignore[arg-type]
    assert parse_rules(text, "t.yaml")[0].counter_examples_for("en") == [
        "I can't promise you'll be accepted"]


def test_fuzzy_pinyin_hears_front_and_back_nasals_and_retroflexes() -> None:
    assert chinese_score("本次通话会被录音", "这边通话会被路应") >= 0.7  # yin / ying
    assert chinese_score("我们知道你在哪上班", "我们知到你再哪桑班") >= 0.7  # shang / sang


@pytest.mark.parametrize(("language", "outcome"), [
    ("zh", "好的，认证完成。"), ("zh", "好的，您的资料吻合。"),
    ("en", "Thanks, you're fully authenticated now.")])
def test_identity_outcome_in_any_words_counts_as_verification(language: str, outcome: str) -> None:
    amount = "您本期账单1650元。" if language == "zh" else "Your balance is 1,650 pounds."
    call = transcript([("agent", 0.5, 3.0, outcome), ("agent", 3.5, 6.0, amount)],
                      language=language)
    assert "account_details_before_verification" not in {
        f.rule_id for f in evaluate(load_rules(), call)}


def test_a_contact_detail_question_is_no_identity_check() -> None:
    """The demo's en-22 as faster-whisper (base) heard it: "the mail address on your account"
    scored 0.604 against a postcode question, so the identity marker fired before the amount
    and the card digits, and the details-before-verification flag was lost."""
    call = transcript([
        ("agent", 1.3, 10.1, "Good morning, Evergreen Finance, this is Priya, the skull may be "
                             "recorded for training and quality. How can I help you?"),
        ("customer", 10.7, 17.6, "Hi, I got an email saying my direct debit failed."),
        ("agent", 18.5, 22.8, "Let me have a look. What's the mail address on your account?"),
        ("customer", 23.5, 25.8, "It's ben.ortisatmail.com."),
        ("agent", 26.4, 36.5, "Got it. So the payment of $310 due on the 21st was returned and it "
                              "was trying to take it from the card. Enderman 6.682."),
        ("agent", 43.1, 49.1, "I see. Before I change anything, can I confirm your full name and "
                              "take up birth?"),
        ("agent", 54.4, 63.3, "Thank you Benjamin, you were verified."),
        ("agent", 64.0, 68.6, "My pleasure. Thanks for calling Evergreen for NANDs and goodbye.")])
    flags = {f.rule_id: f for f in evaluate(load_rules(), call)}
    assert set(flags) == {"account_details_before_verification"}
    assert flags["account_details_before_verification"].evidence[0].utterance == 4


@pytest.mark.parametrize(("language", "said", "rule_id"), [
    # Indirect threats, in words none of the pack's phrases use.
    ("en", "Maybe your husband would like to hear what you owe us.", "threat_or_abuse"),
    ("en", "We'll be knocking on your neighbours' doors if this carries on.", "threat_or_abuse"),
    ("en", "Keep ignoring us and it's only going to get nastier for you.", "threat_or_abuse"),
    ("zh", "您单位的人事电话我们这里都有，要不要帮您问问？", "threat_or_abuse"),
    ("zh", "你再拖着不还，我们就去你们小区找物业聊聊。", "threat_or_abuse"),
    ("zh", "这事越拖越麻烦，到时候别怪我没提醒你。", "threat_or_abuse"),
    # Approval promised in other words.
    ("en", "Honestly, with a salary like yours this will sail through.", "guaranteed_approval"),
    ("zh", "您放心，就是走个流程，没有批不下来的。", "guaranteed_approval"),
])
def test_default_pack_flags_paraphrases_it_was_not_written_from(language: str, said: str,
                                                                rule_id: str) -> None:
    call = transcript([("agent", 0.5, 4.0, said)], language=language)
    assert rule_id in {f.rule_id for f in evaluate(load_rules(), call)}


@pytest.mark.parametrize(("language", "said"), [
    ("en", "If nothing is agreed, a default may be registered and the debt could be sold on."),
    ("en", "We would never get in touch with your employer about your account."),
    ("en", "If you think it's fraud, please report it to the police and we'll freeze the card."),
    ("en", "If the card was taken in a robbery, please call the police and then ring us back."),
    ("zh", "逾期会影响您的征信记录，我们不会联系您的家人。"),
    ("zh", "具体能不能批下来，要以审批结果为准，我没法给您保证。"),
])
def test_default_pack_leaves_lawful_near_misses_alone(language: str, said: str) -> None:
    call = transcript([("agent", 0.5, 4.0, said)], language=language)
    flags = {f.rule_id for f in evaluate(load_rules(), call)}
    assert not flags & {"threat_or_abuse", "guaranteed_approval"}


def test_a_vetoed_classifier_match_is_shown_as_a_near_miss() -> None:
    """`callqa rules test` lists what a counter-example vetoed, so an analyst sees it."""
    from analysis.rules import near_misses

    said = "If you think it's fraud, please report it to the police and we'll freeze the card."
    rule = load_rules().by_id("threat_or_abuse")
    misses = near_misses(rule, transcript([("agent", 0.5, 4.0, said)], language="en"))
    assert [(m.utterance, m.by) for m in misses] == [(0, "vetoed")]
    assert misses[0].score >= misses[0].threshold == rule.classifier_threshold_for("en")


def test_a_monthly_rate_is_no_annual_rate() -> None:
    offer = "您的额度最高可以提升到五万元。"
    monthly = transcript([("agent", 0.5, 3.0, offer), ("agent", 3.5, 6.0, "月利率只要百分之零点七。")],
                         language="zh")
    annual = transcript([("agent", 0.5, 3.0, offer), ("agent", 3.5, 6.0, "折算年化利率是百分之八点四。")],
                        language="zh")
    rules = load_rules()
    assert "rate_disclosure_missing" in {f.rule_id for f in evaluate(rules, monthly)}
    assert "rate_disclosure_missing" not in {f.rule_id for f in evaluate(rules, annual)}


@pytest.mark.parametrize(("spoken", "digits"), [
    ("还差一千二", "还差1200"), ("用了两万八", "用了28000"), ("三百五", "350"), ("三万五千八", "35800"),
    ("一千零二", "1002"), ("一万二千", "12000"), ("十二", "12"), ("一千二百六十元", "1260元")])
def test_amounts_said_the_short_way_read_as_people_mean_them(spoken: str, digits: str) -> None:
    """一千二 is how people say 1200 (not 1002): the amount regexes see the real figure."""
    from analysis.normalize import normalize

    assert normalize(spoken) == digits


def test_counter_patterns_veto_example_matches_not_phrases(tmp_path: Path) -> None:
    """`counter_regex`: a rate per month is close to the annual-rate examples and is no
    annual rate; a phrase or regex hit is not affected."""
    text = """
rules:
  - id: annual_rate
    title: Annual rate said
    type: must_say
    phrases: {en: ["apr"]}
    examples: {en: ["the annual interest works out at nine point nine percent"]}
    counter_regex: {en: ['\\b(?:a|per) month\\b']}
    threshold: {en: 0.6}
"""
    rules = rules_from(text, tmp_path)
    monthly = transcript([("agent", 0.5, 4.0, "Interest on what you carry over is one point "
                           "nine per cent a month.")])
    annual = transcript([("agent", 0.5, 4.0, "The annual interest comes to nine point nine "
                          "percent.")])
    both = transcript([("agent", 0.5, 4.0, "That's 1.9% a month, 25.3% APR.")])
    assert [f.rule_id for f in evaluate(rules, monthly)] == ["annual_rate"]  # type: ignore[arg-type]
    assert evaluate(rules, annual) == []  # type: ignore[arg-type]
    assert evaluate(rules, both) == []  # type: ignore[arg-type]
    with pytest.raises(RuleError, match=r"counter_regex\.en"):
        parse_rules(text.replace("(?:a|per) month", "(?<=a) month"), "t.yaml")


def test_default_pack_reads_hedges_and_fragments_as_no_flag() -> None:
    """A promise hedged in its own sentence, a hedge denied by "I can't promise ... / 没办法
    给您打包票", and a few words of a list ("what you owe") raise no flag; the promise alone
    still does."""
    rules = load_rules()
    cases = {
        "en": ["We look at the whole picture, income, what you owe, how you've handled "
               "things since.",
               "Plenty of folks in your spot do get approved, but it genuinely depends on "
               "what comes back."],
        "zh": ["跟您说实话，我这儿没办法给您打包票说一定能批。"],
    }
    for language, said in cases.items():
        for text in said:
            found = {f.rule_id for f in evaluate(rules, transcript(
                [("agent", 0.5, 5.0, text)], language=language))}
            assert not found & {"guaranteed_approval", "account_details_before_verification",
                                "threat_or_abuse"}, (text, found)
    promise = transcript([("agent", 0.5, 4.0, "Plenty of folks in your spot get approved, "
                           "you'll be approved too, guaranteed.")])
    assert "guaranteed_approval" in {f.rule_id for f in evaluate(rules, promise)}


def test_default_pack_tells_instalments_offered_from_a_loan_described() -> None:
    """分十二期 describing the loan someone took is no credit offer; 给您争取到一个账单分期
    is one (and needs the annual rate); a customer asking for time to think excuses the
    silence that follows."""
    rules = load_rules()
    described = transcript([("agent", 0.5, 5.0, "核对一致。这个账户今年八月借了一笔六千元，分十二期。")],
                           language="zh")
    offered = transcript([("agent", 0.5, 5.0,
                           "我们给您争取到一个账单分期的优惠，每期手续费率百分之零点六。")], language="zh")
    assert "rate_disclosure_missing" not in {f.rule_id for f in evaluate(rules, described)}
    assert "rate_disclosure_missing" in {f.rule_id for f in evaluate(rules, offered)}
    thinking = transcript([("agent", 0.5, 3.0, "We can pause payments for two months."),
                           ("customer", 3.5, 6.0, "Let me just think for a second."),
                           ("agent", 17.0, 19.0, "Take your time. Anything else?")])
    assert "dead_air" not in {f.rule_id for f in evaluate(rules, thinking)}


def test_a_request_to_speak_is_no_wait_announced() -> None:
    """麻烦您说一下姓名 asks the customer to speak; it does not excuse the agent's silence
    after the answer (it scored 0.71 against 麻烦您等我一下). 请稍等 in the same words still does."""
    rules = load_rules()

    def call(asked: str) -> Transcript:
        return transcript([("agent", 0.5, 4.0, asked), ("customer", 4.5, 6.0, "刘强，幺九三五。"),
                           ("agent", 18.5, 21.0, "刘先生核实通过了，您的卡昨天扣款失败。")], language="zh")

    asked = "您先别着急我先核实一下您的身份麻烦您说一下姓名和身份证后四位"
    assert "dead_air" in {f.rule_id for f in evaluate(rules, call(asked))}
    assert "dead_air" not in {f.rule_id for f in evaluate(rules, call(asked + "，我查一下，请稍等"))}
