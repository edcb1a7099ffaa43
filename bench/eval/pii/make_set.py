"""Writes dev.jsonl and test.jsonl: the PII evaluation set (fixed seed, run once).

Sentences are hand-written templates, separate for the dev and the test half; the
numbers in them are generated so that they are structurally valid (ID checksum, Luhn,
real phone formats) and rendered the ways people and recognisers say them. Each line:
{"lang", "role", "text", "spans": [{"kind", "text"}]}; negatives have "spans": [] and
"negative": true (number-like text that is not personal data).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

HERE = Path(__file__).parent
ZH_NUM = "零一二三四五六七八九"
EN_NUM = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    for check in "0123456789":
        d = body + check
        total = 0
        for i, ch in enumerate(reversed(d)):
            n = int(ch) * (2 if i % 2 else 1)
            total += n - 9 if n > 9 else n
        if total % 10 == 0:
            return d
    raise AssertionError


def china_id(rng: random.Random) -> str:
    region = rng.choice(["110105", "310104", "440305", "330106", "510107", "320102", "420111"])
    born = f"{rng.randint(1960, 2002)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    body = region + born + f"{rng.randint(0, 999):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=False)) % 11]


def cn_mobile(rng: random.Random) -> str:
    return rng.choice(["138", "139", "135", "186", "158", "177", "150"]) + "".join(
        rng.choice("0123456789") for _ in range(8))


def us_phone(rng: random.Random) -> str:
    return f"{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"


def uk_mobile(rng: random.Random) -> str:
    return "07" + "".join(rng.choice("0123456789") for _ in range(9))


def render(d: str, form: str) -> str:
    if form == "plain":
        return d
    if form == "zh":
        return "".join(ZH_NUM[int(c)] if c.isdigit() else c for c in d).replace("一", "幺")
    if form == "en":
        return " ".join(EN_NUM[int(c)] if c.isdigit() else c for c in d)
    if form == "four":
        return " ".join(d[i:i + 4] for i in range(0, len(d), 4))
    if form == "us":
        return f"({d[:3]}) {d[3:6]}-{d[6:]}"
    if form == "dash":
        return f"{d[:3]}-{d[3:6]}-{d[6:]}"
    if form == "cn":
        return f"{d[:3]} {d[3:7]} {d[7:]}"
    if form == "uk":
        return f"{d[:5]} {d[5:]}"
    raise ValueError(form)


DEV = {
    "name_en": [
        "Sure, it's {NAME}.", "Hi, this is {NAME} speaking.", "{NAME} here, I got a letter from you.",
        "Yes, I'm {NAME}, the account holder.", "Could I speak to {NAME}, please?",
        "My wife {NAME} handles the payments.", "Thanks {NAME}, let me have a look.",
        "I spoke to {NAME} in your office last week.", "The account is in the name of {NAME}.",
        "Good morning Mr {LAST}, how are you today?", "Am I speaking with Ms {LAST}?",
        "It's {NAME}, calling back about my loan.", "Okay, and is that {NAME} on the card?",
        "Yeah {FIRST} speaking.", "My name is {NAME}.", "Put it under {NAME}, that's me.",
        "You can send it to {NAME} at the same address.", "Hello, am I talking to {NAME}?",
        "This is {FIRST} from the second floor, I mean me, {NAME}.", "I'm calling for {NAME}.",
    ],
    "name_zh": [
        "{NAME}先生您好，请问现在方便吗？", "我是{NAME}，想问一下还款的事。", "请问是{NAME}女士吗？",
        "对，我叫{NAME}。", "账户是{NAME}的，我是他爱人。", "{NAME}让我打这个电话的。",
        "好的{NAME}，我帮您查一下。", "持卡人是{NAME}，没错。", "您好，是{NAME}本人吗？",
        "嗯，我就是{NAME}。", "找一下{NAME}。", "上次是{NAME}帮我办的。",
        "{SURNAME}先生，您这边还有别的问题吗？", "{SURNAME}女士您好，这里是客服。",
        "我姓{SURNAME}，{NAME}。", "您好{NAME}，我是安途的客服。", "请{NAME}接一下电话。",
        "名字写{NAME}就行。", "是的，{NAME}是我老公。", "喂，{NAME}吗？",
    ],
    "id": [
        "我的身份证号是{ID}。", "身份证{ID}。", "号码是{ID}，您核对一下。", "{ID}，这是我的身份证。",
        "证件号码{ID}", "好的，我报一下，{ID}。", "My Chinese ID number is {ID}.",
        "身份证号码：{ID}，名字是我本人。", "嗯，{ID}，对。", "您记一下，{ID}，没错吧？",
    ],
    "card": [
        "My card number is {CARD}.", "The long number on the card is {CARD}, expiry next May.",
        "It's {CARD}.", "银行卡号是{CARD}。", "卡号{CARD}，工商银行的。", "{CARD}, that's the new card.",
        "扣款的卡是{CARD}，麻烦换成这张。", "Can you charge {CARD} instead?", "我念一下，{CARD}。",
        "The card I want to use is {CARD}, thanks.", "新卡号码是{CARD}", "Yes, {CARD}.",
        "卡号是{CARD}对吗？", "Card number: {CARD}.", "请把{CARD}这张卡绑定上。",
    ],
    "phone": [
        "You can reach me on {PHONE}.", "My number's {PHONE}.", "手机号是{PHONE}。", "打我电话{PHONE}。",
        "{PHONE}, that's my mobile.", "我的新号码{PHONE}，旧的不用了。",
        "Call me back at {PHONE} after five.",
        "联系电话：{PHONE}", "It's {PHONE}, yeah.", "换成{PHONE}这个号。", "电话是{PHONE}吗？",
        "My work line is {PHONE}.", "就打{PHONE}找我。", "Text me on {PHONE} please.",
        "号码{PHONE}，尾号您核对一下。", "The new number is {PHONE}.", "Yes, {PHONE}.",
        "您登记的是{PHONE}这个号码吧？", "Ring {PHONE} if I don't pick up.", "{PHONE}",
    ],
    "email": [
        "My email is {EMAIL}.", "Send it to {EMAIL} please.", "邮箱是{EMAIL}。", "发到我邮箱{EMAIL}就行。",
        "It's {EMAIL}.", "Could you email {EMAIL}?", "我的电子邮件{EMAIL}", "Yes, {EMAIL}, all lower case.",
        "The address is {EMAIL}.", "请发送到{EMAIL}。",
    ],
    "negative": [
        "Your contract number is 3201 2026 1105 0017.", "The case number is 4417 2291 0088.",
        "Order number 2024031512345678, placed on the fifteenth.", "合同编号是3201202611050017。",
        "您的工单号是2026110300123456。", "Your reference number is 5512 0093 7741.",
        "The loan reference is four four one seven two nine nine one zero zero eight eight.",
        "借款编号二零二六一一零五零零一七。", "I paid 1,260.50 on the 3rd of November.",
        "我这个月还了三千二百元。", "The payment was on 2026-11-05 at 14:30.",
        "案件编号：3301 0620 1188 7723", "Ticket 8812 4490 1121, logged this morning.",
        "申请编号是一三八零零一三八零零零。", "The policy number is 6011 0009 9013 9424 5.",
        "Your loan number is 4000 1234 5678 9010.", "流水号6222020200112233445。",
        "Invoice 9876543210 is attached.", "Account reference 1800 2345 6789 is on the letter.",
        "订单号是13912345678901。", "We received 12,500 dollars on 11/05/2026.", "还款金额13800元。",
        "The case ID is 2026 1105 7788.", "合同号码4403 0520 2611 0017，请核对。",
        "Complaint reference 7734 1290 5566 2.",
    ],
}
TEST = {
    "name_en": [
        "Yeah, it's {NAME} here.", "{NAME} speaking, who's this?", "Is this {NAME}?",
        "Hello, I'm looking for {NAME}.", "My husband, {NAME}, took out the loan.",
        "I was helped by {NAME} yesterday.", "Right, {NAME}, I've found your account.",
        "Good afternoon, Mrs {LAST}.", "Thank you, Mr {LAST}, that's all done.",
        "This is {NAME}, returning your call.", "The name on the card is {NAME}.",
        "Put {NAME} down as the second holder.", "Oh hi, {FIRST} here.", "Speak to {NAME}, she knows.",
        "It's under {NAME}.", "Can I confirm I'm speaking to {NAME}?", "{NAME}, account holder.",
        "Sorry, is {NAME} available?", "Okay {FIRST}, one moment.", "yes this is {NAME}",
    ],
    "name_zh": [
        "喂，我是{NAME}。", "您好，请问{NAME}在吗？", "{NAME}女士，您好。", "这个账户是{NAME}的。",
        "对，本人{NAME}。", "我帮{NAME}问一下。", "好的{NAME}先生，已经帮您登记了。",
        "是{NAME}吗？我是客服。",
        "找{NAME}有什么事？", "户名{NAME}。", "{SURNAME}女士，还有别的需要吗？", "{SURNAME}先生您好。",
        "就是我，{NAME}。", "我老婆{NAME}接的电话。", "麻烦转告{NAME}回电。", "{NAME}，对，就是我。",
        "您好，{NAME}是吧？", "上次接待我的是{NAME}。", "我是{NAME}的同事。", "借款人{NAME}。",
    ],
    "id": [
        "身份证号码是{ID}。", "我报一下证件号，{ID}。", "{ID}，身份证上就是这个。", "号码{ID}",
        "The ID on my card is {ID}.", "嗯，身份证是{ID}，你查吧。", "证件号{ID}，麻烦核实。",
        "您的证件号码{ID}对吗？", "好，{ID}。", "居民身份证{ID}。",
    ],
    "card": [
        "The card number is {CARD}.", "Charge it to {CARD}.", "卡号是{CARD}。", "我的银行卡{CARD}。",
        "{CARD}, expiring in twenty eight.", "请用{CARD}这张卡扣款。", "Okay, {CARD}, did you get that?",
        "新的卡是{CARD}，建设银行。", "Yeah it's {CARD}.", "卡号{CARD}，您再核对一下。",
        "My debit card, {CARD}.", "是{CARD}这张。", "Number is {CARD}.", "绑定的卡号{CARD}。",
        "Use {CARD} from now on.",
    ],
    "phone": [
        "Best number is {PHONE}.", "My mobile is {PHONE}.", "手机{PHONE}。", "电话号码是{PHONE}。",
        "{PHONE}, any time after six.", "新手机号{PHONE}。", "You can call {PHONE}.", "打这个号{PHONE}。",
        "Reach me at {PHONE}.", "我的电话{PHONE}，谢谢。", "It's {PHONE}.", "{PHONE}是我的号码。",
        "Home number, {PHONE}.", "留一下电话：{PHONE}", "Try {PHONE} tomorrow.", "改成{PHONE}。",
        "The mobile ends, well it's {PHONE}.", "是{PHONE}对吧？", "Call {PHONE}.", "就是{PHONE}。",
    ],
    "email": [
        "Email me at {EMAIL}.", "It's {EMAIL}.", "我的邮箱{EMAIL}。", "发到{EMAIL}。", "My email's {EMAIL}.",
        "Send the letter to {EMAIL}.", "邮箱地址是{EMAIL}。", "{EMAIL}, that's the one.",
        "请发邮件到{EMAIL}。", "The email on file should be {EMAIL}.",
    ],
    "negative": [
        "Your contract number is 3310 2026 0915 0042.", "The case reference is 5563 2210 0971.",
        "Order 2025120112345678 shipped yesterday.", "合同编号3302202609150042。",
        "工单编号二零二六一一一二零零零八八。", "Your agreement number is 6620 0017 4433.",
        "The loan reference is five five six three two two one zero zero nine seven one.",
        "借款合同号2026111200345678。", "I paid 2,480.75 on the 9th of October.",
        "本期还了一万二千元。", "The transfer was made on 2026-10-09 at 09:15.",
        "案件号：4401 1130 2256 8890", "Ticket number 7713 5520 1190.",
        "申请单号一三九零零一三九零零零。", "The membership number is 4111 2222 3333 4.",
        "Your loan ID is 5100 2222 3333 4444.", "交易流水号6217000011112222333。",
        "Invoice number 8765432109.", "Reference 1900 3456 7890 is on the statement.",
        "订单编号13800138000123。", "We got 9,800 dollars on 10/09/2026.", "欠款金额15900元。",
        "The claim number is 2026 1009 3344.", "合同号3301 0920 2609 0042。",
        "Dispute reference 6634 1290 5566 8.",
    ],
}
EN_NAMES_DEV = ["Martin Cole", "Sarah Jenkins", "David Okafor", "Emma Thompson", "James Wilson",
                "Linda Wu", "Robert Brown", "Jessica Alvarez", "Michael O'Brien", "Olivia Patel"]
EN_NAMES_TEST = ["Daniel Hughes", "Laura Mitchell", "Kevin Nguyen", "Rachel Green", "Thomas Baker",
                 "Chloe Evans", "Andrew Scott", "Megan Clarke", "Steven Murphy", "Hannah Kelly"]
ZH_NAMES_DEV = ["张伟", "王秀英", "李娜", "刘洋", "陈静", "杨帆", "赵敏", "黄晓明", "周杰", "欧阳娜娜"]
ZH_NAMES_TEST = ["王磊", "李秀兰", "张敏", "刘强", "陈晨", "杨丽", "吴刚", "徐静蕾", "孙涛", "诸葛亮"]
EMAILS_DEV = ["martin.cole@gmail.com", "s.jenkins88@outlook.com", "zhangwei@qq.com", "li_na@163.com",
              "john dot smith at gmail dot com", "dokafor@yahoo.co.uk", "wangxiuying艾特qq点com",
              "emma.t@hotmail.com", "liuyang1990@126.com", "j.wilson@icloud.com"]
EMAILS_TEST = ["dan.hughes@gmail.com", "laura_m@outlook.com", "wanglei@qq.com", "lxl1975@163.com",
               "kevin dot nguyen at yahoo dot com", "rgreen@btinternet.com", "zhangmin艾特163点com",
               "tbaker@hotmail.co.uk", "chenchen88@sina.com", "megan.clarke@icloud.com"]


def build(templates: dict[str, list[str]], en_names: list[str], zh_names: list[str],
          emails: list[str], seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows: list[dict[str, object]] = []

    def add(lang: str, text: str, spans: list[tuple[str, str]], role: str = "customer") -> None:
        rows.append({"lang": lang, "role": role, "text": text,
                     "spans": [{"kind": k, "text": t} for k, t in spans]})

    for i, t in enumerate(templates["name_en"]):
        full = en_names[i % len(en_names)]
        first, last = full.split(" ", 1)
        if "{LAST}" in t:
            add("en", t.replace("{LAST}", last), [("name", last)], "agent")
        elif "{FIRST}" in t and "{NAME}" not in t:
            add("en", t.replace("{FIRST}", first), [("name", first)])
        else:
            text = t.replace("{FIRST}", first).replace("{NAME}", full)
            spans = [("name", first)] if "{FIRST}" in t else []
            add("en", text, [*spans, ("name", full)])
    for i, t in enumerate(templates["name_zh"]):
        full = zh_names[i % len(zh_names)]
        surname = full[:2] if full.startswith(("欧阳", "诸葛")) else full[0]
        if "{SURNAME}" in t and "{NAME}" not in t:
            add("zh", t.replace("{SURNAME}", surname), [("name", surname)], "agent")
        else:
            text = t.replace("{SURNAME}", surname).replace("{NAME}", full)
            add("zh", text, [("name", full)])
    for i, t in enumerate(templates["id"]):
        d = china_id(rng)
        form = ["plain", "plain", "zh", "plain", "zh"][i % 5]
        text = render(d, form)
        lang = "en" if t.isascii() or "My" in t or "The" in t else "zh"
        add(lang, t.replace("{ID}", text), [("id_card", text)])
    for i, t in enumerate(templates["card"]):
        prefix, length = [("4", 16), ("5", 16), ("62", 19), ("62", 16), ("37", 15)][i % 5]
        d = luhn_complete(prefix, length, rng)
        lang = "zh" if any("\u4e00" <= c <= "\u9fff" for c in t) else "en"
        form = (["plain", "four", "zh", "four"] if lang == "zh" else ["four", "plain", "en", "four"])[i % 4]
        if prefix == "37" and form == "four":
            form = "plain"
        text = render(d, form)
        add(lang, t.replace("{CARD}", text), [("bank_card", text)])
    for i, t in enumerate(templates["phone"]):
        lang = "zh" if any("\u4e00" <= c <= "\u9fff" for c in t) else "en"
        if lang == "zh":
            d = cn_mobile(rng)
            form = ["plain", "zh", "cn", "plain", "zh"][i % 5]
        else:
            kind = i % 3
            d = [us_phone, uk_mobile, cn_mobile][kind](rng)
            form = [["us", "dash", "en"][i % 3], "uk" if i % 2 else "en", "plain"][kind]
        text = render(d, form)
        add(lang, t.replace("{PHONE}", text), [("phone", text)])
    for i, t in enumerate(templates["email"]):
        e = emails[i % len(emails)]
        lang = "zh" if any("\u4e00" <= c <= "\u9fff" for c in t) else "en"
        add(lang, t.replace("{EMAIL}", e), [("email", e)])
    for t in templates["negative"]:
        lang = "zh" if any("\u4e00" <= c <= "\u9fff" for c in t) else "en"
        rows.append({"lang": lang, "role": "agent", "text": t, "spans": [], "negative": True})
    return rows


if __name__ == "__main__":
    for name, tpl, en, zh, em, seed in (("dev", DEV, EN_NAMES_DEV, ZH_NAMES_DEV, EMAILS_DEV, 14),
                                         ("test", TEST, EN_NAMES_TEST, ZH_NAMES_TEST, EMAILS_TEST, 1414)):
        rows = build(tpl, en, zh, em, seed)
        with (HERE / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(name, len(rows), "rows,", sum(1 for r in rows if r.get("negative")), "negatives")
