"""Phrase banks for synthetic feedback texts (Chinese and English).

Used only by :mod:`custsat.data.synth`. A feedback text is composed as

    opener + clause(topic 1) [+ joiner + clause(topic 2)] + closer [+ emoji]

where each clause comes from a bank keyed by language x topic x sentiment, expanded
over templates x intensifiers x product nouns x small numbers. Positive templates
sometimes carry negation or "problem" words ("没什么问题", "no issues at all") and
negative ones sometimes carry praise words ("本来以为不错", "expected better") so that
sentiment is not separable by keyword lookup. Some Chinese templates mix in English
words (App, bug, OK) and some English ones carry pinyin or Chinese brand words.

Placeholders: ``{p}`` product noun, ``{i}`` intensifier, ``{n}`` small number.
"""

from __future__ import annotations

import itertools

LANGUAGES = ("zh", "en")
SENTIMENTS = ("negative", "neutral", "positive")
TOPICS = (
    "product_quality",
    "functionality",
    "usability",
    "service_attitude",
    "delivery",
    "price_value",
    "after_sales",
    "packaging",
    "environment_facilities",
)

# Product categories of transactions and the nouns used for them in texts (zh, en).
CATEGORIES = ("electronics", "home", "apparel", "beauty", "grocery", "services")
PRODUCTS: dict[str, list[tuple[str, str]]] = {
    "electronics": [("手机", "phone"), ("耳机", "earbuds"), ("平板", "tablet"),
                    ("智能手表", "smartwatch"), ("充电宝", "power bank")],
    "home": [("扫地机器人", "robot vacuum"), ("咖啡机", "coffee machine"),
             ("空气净化器", "air purifier"), ("电饭煲", "rice cooker")],
    "apparel": [("外套", "jacket"), ("运动鞋", "running shoe"), ("衬衫", "shirt"),
                ("背包", "backpack")],
    "beauty": [("面霜", "face cream"), ("洗发水", "shampoo"), ("口红", "lipstick"),
               ("精华液", "serum")],
    "grocery": [("咖啡豆", "coffee bag"), ("零食礼盒", "snack box"), ("茶叶", "tea set"),
                ("橄榄油", "olive oil")],
    "services": [("会员", "membership"), ("宽带套餐", "broadband plan"),
                 ("保养服务", "maintenance package"), ("年卡", "annual pass")],
}

INTENSIFIERS = {
    ("zh", "negative"): ["太", "非常", "特别", "真的很", "实在", "有点", "比较", "超级", "相当"],
    ("zh", "neutral"): ["还算", "比较", "基本", "勉强", "还"],
    ("zh", "positive"): ["很", "非常", "特别", "挺", "超", "相当", "蛮", "十分", "真心"],
    ("en", "negative"): ["really", "very", "extremely", "pretty", "a bit", "so", "incredibly",
                         "rather", "seriously"],
    ("en", "neutral"): ["fairly", "reasonably", "more or less", "kind of", "somewhat"],
    ("en", "positive"): ["really", "very", "super", "pretty", "quite", "genuinely",
                         "remarkably", "incredibly", "so"],
}
NUMBERS = {"zh": ["两", "三", "五", "七", "十", "3", "5"], "en": ["two", "three", "5", "7", "10"]}

# --------------------------------------------------------------------------------------
# Clause templates: CLAUSES[lang][topic][sentiment] -> templates
# --------------------------------------------------------------------------------------
CLAUSES: dict[str, dict[str, dict[str, list[str]]]] = {
    "zh": {
        "product_quality": {
            "negative": ["{p}质量{i}差，用了没几天就坏了", "收到的{p}有明显瑕疵，做工{i}粗糙",
                         "{p}用了{n}周就开裂了，质量堪忧", "感觉{p}是假货，和描述的完全不一样",
                         "{p}的材质{i}廉价，手感很差", "本来以为质量不错，结果{p}{n}天就出问题了",
                         "{p}的quality真的不行，{i}失望"],
            "neutral": ["{p}质量中规中矩，没什么惊喜", "{p}质量{i}可以吧，和预期差不多",
                        "做工一般般，{p}能用", "{p}质量和上次买的差不多",
                        "{p}质量说不上好也说不上差"],
            "positive": ["{p}质量{i}好，做工精致", "{p}用了半年依然像新的一样",
                         "材质{i}扎实，{p}一看就是正品", "{p}质量稳定，没出过什么问题",
                         "做工没得挑，{p}{i}耐用", "{p}的品质{i}在线，不愧是大牌"],
        },
        "functionality": {
            "negative": ["{p}功能{i}鸡肋，好多宣传的功能都没有", "{p}续航{i}差，半天就没电",
                         "{p}老是卡顿，反应{i}慢", "App老是闪退，bug{i}多",
                         "{p}的核心功能用不了，{i}影响使用", "效果{i}一般，{p}根本没有宣传的那么好"],
            "neutral": ["{p}功能够用，没有特别出彩的地方", "性能{i}稳定，{p}日常用没问题",
                        "{p}的效果要再用一段时间才知道", "功能比较基础，{p}满足基本需求"],
            "positive": ["{p}功能{i}强大，该有的都有", "{p}续航{i}给力，充一次用{n}天",
                         "{p}运行{i}流畅，一点都不卡", "{p}效果{i}明显，超出预期",
                         "新版App功能{i}好用，速度也快"],
        },
        "usability": {
            "negative": ["说明书写得{i}乱，{p}根本不会装", "{p}操作{i}复杂，老人完全不会用",
                         "设置步骤{i}繁琐，折腾了{n}个小时", "App界面{i}难用，找个功能要半天",
                         "{p}安装起来{i}麻烦，还得自己买配件"],
            "neutral": ["{p}上手需要一点时间", "操作还算简单，{p}看看说明书就会",
                        "{p}使用方式和别的牌子差不多", "设置过程{i}顺利，没遇到大问题"],
            "positive": ["{p}操作{i}简单，拿到手就会用", "安装{i}方便，{n}分钟就搞定了",
                         "说明书写得{i}清楚，{p}一看就懂", "App设计{i}人性化，用起来顺手",
                         "{p}使用起来{i}便捷，家里老人也会用"],
        },
        "service_attitude": {
            "negative": ["客服态度{i}差，问{n}遍都不回", "店员{i}不耐烦，爱答不理的",
                         "客服只会复制粘贴，{i}敷衍", "打了{n}次电话都没人接，服务{i}差劲",
                         "销售说的和实际完全不一样，态度还{i}傲慢", "客服的service意识{i}差"],
            "neutral": ["客服回复得不算快也不算慢", "店员介绍得{i}清楚，但没什么热情",
                        "客服按流程处理了，态度一般", "服务中规中矩"],
            "positive": ["客服态度{i}好，耐心解答了所有问题", "店员{i}热情，服务周到",
                         "客服小姐姐{i}专业，回复很及时", "销售{i}耐心，一点都不催",
                         "服务人员{i}有礼貌，体验很好"],
        },
        "delivery": {
            "negative": ["物流{i}慢，等了{n}天才到", "快递{i}暴力，{p}送到的时候已经压坏了",
                         "下单后{n}天都没发货，{i}离谱", "物流tracking一直不更新，{i}着急",
                         "快递员没打电话就放驿站了，{i}不负责", "说好的次日达，结果拖了{n}天"],
            "neutral": ["物流速度一般，{n}天到货", "请问什么时候发货？", "快递正常送达",
                        "配送时间和预计的差不多", "想问一下能不能改收货地址"],
            "positive": ["物流{i}快，第二天就到了", "快递小哥{i}负责，送货上门",
                         "发货{i}及时，{p}完好无损", "配送速度{i}给力，点赞",
                         "下单当天就发货了，{i}省心"],
        },
        "price_value": {
            "negative": ["价格{i}贵，性价比太低", "刚买就降价了{n}百，{i}坑",
                         "{p}这个价格{i}不值", "隐藏收费{i}多，结账时多扣了钱",
                         "会员费涨价了，{i}不划算", "优惠券用不了，感觉被套路了"],
            "neutral": ["价格还算合理", "{p}价格和别家差不多", "想问一下还有没有优惠活动",
                        "性价比一般吧", "价格中等，看个人需求"],
            "positive": ["性价比{i}高，这个价格很值", "活动价买的，{i}划算",
                         "{p}价格{i}实惠，比实体店便宜", "这个价格能买到这样的{p}{i}超值",
                         "价格真的OK，物超所值"],
        },
        "after_sales": {
            "negative": ["申请退货{n}天了还没处理，{i}无语", "售后{i}推诿，来回踢皮球",
                         "保修期内维修还要收费，{i}不合理", "退款迟迟不到账，{i}生气",
                         "投诉了{n}次都没有结果", "换货流程{i}麻烦，还要自己出运费"],
            "neutral": ["想咨询一下{p}怎么申请保修", "请问退货需要什么手续？",
                        "维修已经在处理中，等结果", "售后处理得还行，就是慢了点",
                        "想了解一下换货的流程"],
            "positive": ["售后{i}给力，当天就换了新的", "退款{i}快，没有任何刁难",
                         "维修师傅{i}专业，问题很快就解决了", "技术支持{i}耐心，远程帮我搞定了",
                         "投诉后很快就有人跟进，处理{i}满意"],
        },
        "packaging": {
            "negative": ["包装{i}简陋，{p}直接裸奔", "盒子都压扁了，包装{i}差",
                         "包装破损，{p}外壳有划痕", "送人的礼物包装{i}寒酸",
                         "包装里一股怪味，{i}不舒服"],
            "neutral": ["包装普通，没什么特别", "包装还算完整", "包装就是普通纸箱",
                        "外包装一般，里面东西没事"],
            "positive": ["包装{i}精美，送人很有面子", "包装{i}严实，一点都没压坏",
                         "包装用心，还有小礼物", "{p}包装{i}高级，拆箱体验很好",
                         "包装环保，{i}喜欢"],
        },
        "environment_facilities": {
            "negative": ["门店环境{i}脏乱，地上都是垃圾", "店里{i}吵，根本没法好好看",
                         "停车位{i}难找，还要收费", "试衣间{i}小，空调也不开",
                         "酒店房间有异味，卫生{i}差", "早餐品种{i}少，去晚了什么都没有"],
            "neutral": ["门店位置还行，交通一般", "店里环境普通", "房间面积正常，设施有点旧",
                        "停车场要排队，不过还能接受"],
            "positive": ["门店环境{i}好，干净整洁", "店里装修{i}舒服，逛起来很愉快",
                         "位置{i}方便，出地铁就到", "房间{i}干净，早餐也丰富",
                         "停车方便，设施{i}齐全"],
        },
    },
    "en": {
        "product_quality": {
            "negative": ["the {p} broke after {n} days, {i} poor build quality",
                         "the {p} arrived with a visible defect and feels {i} cheap",
                         "not impressed with the quality of the {p}, it started falling apart",
                         "I suspect the {p} is not genuine, the finish is {i} rough",
                         "I expected great quality but the {p} is {i} flimsy",
                         "the {p} fell apart after {n} weeks"],
            "neutral": ["the {p} quality is okay, nothing special",
                        "quality of the {p} is about what I expected",
                        "the {p} is decent, neither great nor bad",
                        "build quality of the {p} is {i} average"],
            "positive": ["the {p} is {i} well made and feels solid",
                         "great build quality, the {p} still looks new after months",
                         "no complaints about the quality, the {p} is {i} sturdy",
                         "the {p} is clearly genuine and {i} durable",
                         "can't fault the quality of the {p}"],
        },
        "functionality": {
            "negative": ["the {p} is missing half the advertised features",
                         "battery life on the {p} is {i} bad, dead by lunchtime",
                         "the app keeps crashing, {i} buggy", "the {p} lags constantly and is {i} slow",
                         "the {p} simply doesn't do what it promised",
                         "the main function of the {p} stopped working"],
            "neutral": ["the {p} does the basics, nothing more",
                        "performance is {i} stable for everyday use",
                        "too early to say how well the {p} works",
                        "the features of the {p} are {i} basic but fine"],
            "positive": ["the {p} has every feature I need and works {i} well",
                         "battery on the {p} lasts {n} days, {i} impressive",
                         "the {p} runs {i} smoothly, no lag at all",
                         "the {p} works even better than advertised",
                         "the new app version is {i} fast and handy"],
        },
        "usability": {
            "negative": ["the manual is {i} confusing, could not set up the {p}",
                         "the {p} is {i} complicated to operate",
                         "setup took me {n} hours, {i} frustrating",
                         "the app is {i} hard to navigate",
                         "installing the {p} was {i} painful and needed extra parts"],
            "neutral": ["the {p} takes a little time to learn",
                        "setup was {i} straightforward with the manual",
                        "the {p} works like most other brands",
                        "using the {p} is {i} simple once you get used to it"],
            "positive": ["the {p} is {i} easy to use right out of the box",
                         "installation took {n} minutes, {i} convenient",
                         "clear instructions, the {p} was {i} simple to set up",
                         "the app is {i} intuitive", "even my parents can use the {p} without help"],
        },
        "service_attitude": {
            "negative": ["customer service was {i} rude and unhelpful",
                         "the staff ignored me and were {i} impatient",
                         "support just pasted canned answers, {i} dismissive",
                         "called {n} times and nobody picked up",
                         "the sales rep was {i} pushy and misleading",
                         "the agent kept saying 'mei banfa', {i} annoying"],
            "neutral": ["the agent answered, neither fast nor slow",
                        "staff explained things but were not very warm",
                        "support followed the script", "service was {i} standard"],
            "positive": ["customer service was {i} friendly and patient",
                         "the staff were {i} helpful and polite",
                         "the support agent was {i} professional and quick",
                         "the sales rep never pushed me, {i} pleasant",
                         "the team went out of their way to help"],
        },
        "delivery": {
            "negative": ["delivery was {i} slow, took {n} days",
                         "the courier threw the parcel and the {p} arrived damaged",
                         "the order did not ship for {n} days",
                         "tracking has not updated in days, {i} worrying",
                         "the parcel was left outside without a call",
                         "promised next-day delivery but it took {n} days"],
            "neutral": ["delivery took {n} days, as estimated", "when will my order ship?",
                        "the parcel arrived normally", "can I change the delivery address?",
                        "shipping time was {i} average"],
            "positive": ["delivery was {i} fast, arrived the next day",
                         "the courier was {i} careful and brought it to my door",
                         "shipped the same day, the {p} arrived intact",
                         "{i} quick shipping, thanks", "arrived earlier than promised"],
        },
        "price_value": {
            "negative": ["{i} overpriced for what you get",
                         "the price dropped {n} days after I bought it",
                         "the {p} is not worth the money", "there were {i} sneaky hidden fees",
                         "the membership fee went up again, {i} disappointing",
                         "the coupon would not apply at checkout"],
            "neutral": ["price is {i} reasonable", "the {p} costs about the same as elsewhere",
                        "are there any discounts coming up?", "value for money is average",
                        "pricing is mid-range"],
            "positive": ["{i} good value for money", "got the {p} on sale, {i} worth it",
                         "the {p} is {i} affordable compared to stores",
                         "great xingjiabi, the {p} is worth every cent",
                         "can't beat this price"],
        },
        "after_sales": {
            "negative": ["my return request has been pending for {n} days",
                         "after-sales kept passing me around, {i} frustrating",
                         "they charged for a repair under warranty, {i} unfair",
                         "still waiting for my refund, {i} upset",
                         "complained {n} times with no result",
                         "the exchange process is {i} painful and I pay the shipping"],
            "neutral": ["how do I claim the warranty for the {p}?",
                        "what do I need to return the {p}?", "the repair is still in progress",
                        "after-sales was okay, just a bit slow", "I'd like to know the exchange process"],
            "positive": ["after-sales replaced the {p} the same day",
                         "the refund came through {i} quickly, no questions asked",
                         "the technician was {i} skilled and fixed it fast",
                         "tech support patiently solved it remotely",
                         "my complaint was followed up {i} quickly"],
        },
        "packaging": {
            "negative": ["the packaging was {i} flimsy, the {p} was barely protected",
                         "the box was crushed, {i} poor packaging",
                         "the packaging was torn and the {p} scratched",
                         "the gift packaging looked {i} cheap",
                         "the package smelled {i} strange"],
            "neutral": ["packaging was plain", "the box was intact",
                        "standard cardboard packaging", "outer box so-so, contents fine"],
            "positive": ["the packaging is {i} beautiful, perfect as a gift",
                         "{i} well packed, nothing damaged",
                         "thoughtful packaging with a small gift inside",
                         "unboxing the {p} felt {i} premium",
                         "love the eco-friendly packaging"],
        },
        "environment_facilities": {
            "negative": ["the store was {i} dirty and messy", "the shop was {i} noisy",
                         "parking was {i} hard to find and expensive",
                         "the fitting rooms are {i} small and stuffy",
                         "the hotel room smelled and was {i} unclean",
                         "breakfast choices were {i} limited"],
            "neutral": ["the store location is okay", "the shop is {i} ordinary",
                        "room size was normal, facilities a bit dated",
                        "had to queue for parking, but fine"],
            "positive": ["the store is {i} clean and tidy", "the shop is {i} pleasant to browse",
                         "the location is {i} convenient, right by the metro",
                         "the room was {i} clean and breakfast was great",
                         "easy parking and {i} good facilities"],
        },
    },
}

# Clauses for texts with no topic.
GENERAL: dict[str, dict[str, list[str]]] = {
    "zh": {
        "negative": ["整体体验{i}差", "{i}失望", "不太满意", "太让人失望了", "这次购物{i}糟心",
                     "再也不会来了", "说好的五星服务呢？{i}失望", "呵呵，就这样吧"],
        "neutral": ["还行吧", "一般", "没什么特别的感觉", "凑合", "跟预期差不多", "暂时没什么意见",
                    "先用用看"],
        "positive": ["整体{i}满意", "体验{i}好", "好评", "{i}喜欢", "没什么可挑剔的", "一次愉快的购物",
                     "nice，{i}满意"],
    },
    "en": {
        "negative": ["{i} disappointed overall", "not happy at all", "worst experience so far",
                     "never again", "expected much better", "this was {i} frustrating",
                     "great, another letdown"],
        "neutral": ["it's okay", "nothing special", "average experience", "fine I guess",
                    "no strong feelings", "will see how it goes"],
        "positive": ["{i} happy overall", "great experience", "love it", "nothing to complain about",
                     "a {i} pleasant purchase", "couldn't be happier"],
    },
}

OPENERS: dict[str, dict[str, list[str]]] = {
    "zh": {
        "negative": ["", "", "", "说实话，", "唉，", "客服你好，", "第{n}次买了，这次", "不吐不快，",
                     "本来很信任你们，", "我想反映一下，", "感觉", "有点无语，"],
        "neutral": ["", "", "", "你好，", "补充一下，", "第一次买，", "感觉", "客观说，"],
        "positive": ["", "", "", "说实话，", "第{n}次回购了，", "朋友推荐的，", "惊喜！", "必须好评，",
                     "感觉", "总的来说，"],
    },
    "en": {
        "negative": ["", "", "", "honestly, ", "hi, ", "sorry but ", "this is my {n}th order and ",
                     "not to be dramatic but ", "maybe it's just me but ", "I have to say "],
        "neutral": ["", "", "", "hi, ", "quick question: ", "for the record, ", "first order, ",
                    "I guess ", "overall "],
        "positive": ["", "", "", "honestly, ", "wow, ", "third time buying and ", "a friend recommended it, ",
                     "have to say ", "I guess ", "so far "],
    },
}

CLOSERS: dict[str, dict[str, list[str]]] = {
    "zh": {
        "negative": ["", "", "。", "！", "，希望尽快处理！", "，不会再买了。", "，要求退款。",
                     "，给个差评。", "，请给个说法。", "。太失望了", "，真的无语。"],
        "neutral": ["", "", "。", "，谢谢。", "，再观察看看。", "，总体还行。", "，麻烦回复一下。"],
        "positive": ["", "", "。", "！", "，会回购的！", "，推荐给朋友了。", "，五星好评！",
                     "，下次还来。", "，赞一个。", "，谢谢！"],
    },
    "en": {
        "negative": ["", ".", "!", ". Please fix this.", ". Won't buy again.", ". I want a refund.",
                     ". One star.", ". Very disappointed.", ". Not acceptable."],
        "neutral": ["", ".", ". Thanks.", ". We'll see.", ". Overall fine.", ". Please reply."],
        "positive": ["", ".", "!", ". Will buy again!", ". Recommended to friends.", ". Five stars!",
                     ". Thanks a lot!", ". Keep it up."],
    },
}

# Closers that carry sentiment on their own (for texts whose clause is matter-of-fact).
STRONG_CLOSERS: dict[str, dict[str, list[str]]] = {
    lang: {s: [c for c in CLOSERS[lang][s] if len(c.strip("。！!.？?， ")) > 2] for s in SENTIMENTS}
    for lang in LANGUAGES
}

JOINERS = {
    "zh": {"same": ["，", "；", "。另外", "，而且", "，还有就是", "。还有"],
           "contrast": ["，但是", "，不过", "。可惜", "，就是", "，只是"]},
    "en": {"same": [", ", "; ", ". Also, ", ", and ", ". On top of that, ", ". Plus "],
           "contrast": [", but ", ", however ", ". Sadly ", ", although ", ". Only thing: "]},
}

EMOJI = {
    "negative": ["😡", "😤", "👎", "😞", "🙄", "💢", "😓", "😂"],  # 😂 = sarcastic laughter
    "neutral": ["🤔", "😐", "🙂", "👀"],
    "positive": ["👍", "😊", "❤️", "🎉", "💯", "😍", "🙏", "👌"],
}

# Hidden events of the synthetic company (switched off by default; see synth.HiddenEvents).
# A new issue that the default taxonomy does not cover: app log-in failures, in varied words.
# Templates avoid the taxonomy's keywords where natural wording allows, as real reports do.
NEW_ISSUES: dict[str, dict[str, list[str]]] = {
    "app_login": {
        "zh": [
            "App登录不上，一直提示密码错误，可我密码明明是对的", "更新以后就登不进去了，输入验证码也没反应",
            "验证码等了{n}分钟都收不到，根本没法登录", "账号突然被锁了，登录页面一直转圈",
            "用手机号登录老是失败，提示网络异常，换了WiFi也一样", "扫码登录扫了{n}次都不行",
            "找回密码的链接打开是空白页，还是登录不了", "明明注册过，登录时却说账号不存在",
            "登录页面卡住不动，点登录按钮没有任何反应", "每次登录验证码都校验失败，{i}无语",
            "微信授权登录一直失败，只能干着急", "人脸识别登录试了{n}次都没通过",
            "刚登上去就提示会话已过期，又被踢出来了", "{n}天了还是登不上自己的账号",
            "输入账号密码后一直显示正在登录，然后就没下文了", "换了新手机以后怎么也登录不了",
        ],
        "en": [
            "I can't log in to the app, it keeps saying my password is wrong even though it's right",
            "since the last update I haven't been able to sign in at all",
            "the verification code never arrives, so I'm stuck on the login screen",
            "my account got locked after {n} login attempts for no reason",
            "login fails every time with a network error, on Wi-Fi and on mobile data",
            "the password reset link opens a blank page and I still can't get into my account",
            "it says my account doesn't exist when I try to sign in, but I registered last year",
            "tapping the sign-in button does nothing, the screen just spins",
            "I get logged out every few minutes and then can't log back in",
            "face ID login has failed {n} times in a row",
            "the two-factor code is always rejected as invalid",
            "signing in with my phone number keeps failing, {i} frustrating",
            "stuck on 'verifying' forever whenever I try to log in",
            "I keep getting 'session expired' right after logging in",
            "{n} days now and I still can't access my account",
            "after switching phones I can't sign in anymore",
        ],
    },
}

# Sentences that carry PII, for testing masking. {phone} {email} {idno} {card} {order}.
PII_TEMPLATES = {
    "zh": {
        "phone": ["我的电话是{phone}，请尽快联系我", "有问题打我手机{phone}", "联系人王先生{phone}"],
        "email": ["联系邮箱：{email}", "结果请发到{email}"],
        "idno": ["我的身份证号是{idno}，麻烦核实", "实名信息{idno}"],
        "card": ["退款请打到卡号{card}", "扣款银行卡{card}"],
        "order": ["订单号{order}", "（单号：{order}）"],
    },
    "en": {
        "phone": ["call me at {phone}", "my number is {phone}", "reach me on {phone} please"],
        "email": ["my email is {email}", "send the details to {email}"],
        "idno": ["my ID number is {idno}"],
        "card": ["refund to card {card} please", "the charge was on card {card}"],
        "order": ["order no. {order}", "(order {order})"],
    },
}
EMAIL_NAMES = ["zhang.wei", "li.na", "wang.fang", "liu.yang", "chen.jing", "john.smith", "mary.lee",
               "alex.wong", "sam.tan", "anna.k", "peter88", "lucy_2020", "kevin.z", "maria.g"]
EMAIL_DOMAINS = ["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "example.com",
                 "sina.com", "foxmail.com"]

# Simplified -> traditional characters for the characters used in the banks (a subset).
_S2T_PAIRS = (
    "质質 实實 无無 语語 说說 东東 买買 卖賣 这這 们們 们們 过過 还還 没沒 问問 题題 应應 该該 电電 话話 员員 务務"
    " 态態 发發 货貨 递遞 价價 钱錢 贵貴 优優 惠惠 费費 隐隱 结結 账賬 扣扣 会會 员員 涨漲 时時 间間 后後"
    " 几幾 坏壞 现現 显顯 细細 粗粗 觉覺 样樣 与與 续續 航航 差差 卡卡 顿頓 应應 该該 宣宣 传傳 没沒 够夠 运運"
    " 行行 畅暢 强強 装裝 书書 写寫 乱亂 杂雜 复復 繁繁 琐瑣 折折 腾騰 个個 难難 设設 计計 顺順 便便 简簡 单單"
    " 图圖 见見 专專 业業 礼禮 貌貌 热熱 情情 耐耐 烦煩 爱愛 答答 理理 敷敷 衍衍 销銷 际際 傲傲 慢慢 回回"
    " 处處 遍遍 数數 给給 压壓 离離 谱譜 着著 负負 责責 驿驛 站站 马馬 达達 结結 果果 拖拖 预預 计計 址址 改改"
    " 当當 时時 点點 赞讚 坑坑 值值 别別 实實 体體 店店 宜宜 这這 样樣 超超 类類 请請 退退 换換 维維 修修 师師"
    " 术術 支支 持持 远遠 程程 跟跟 进進 满滿 意意 诉訴 处處 踢踢 皮皮 球球 规規 气氣 运運 费費 包包 盒盒 扁扁"
    " 简簡 陋陋 裸裸 奔奔 损損 痕痕 寒寒 酸酸 怪怪 味味 舒舒 服服 环環 境境 严嚴 实實 级級 验驗 箱箱 门門"
    " 脏髒 乱亂 垃垃 圾圾 吵吵 停停 车車 难難 找找 试試 衣衣 调調 开開 宾賓 馆館 间間 异異 卫衛 生生 餐餐 种種 晚晚"
    " 么麼 环環 规規 诉訴 则則 赏賞 丰豐 齐齊 场場 队隊 旧舊 铁鐵 楼樓 层層 让讓 糟糟 来來 这這 样樣 挑挑 剔剔"
    " 愉愉 欢歡 惊驚 喜喜 谢謝 观觀 察察 议議 见見 购購 荐薦 朋朋 友友 星星 级級 补補 充充 谈談 话話 码碼 号號"
    " 邮郵 箱箱 联聯 证證 银銀 核核 对對 报報 单單 网網 络絡 护護 养養 带帶 宽寬 饭飯 煲煲 净淨 气氣 机機"
    " 机機 器器 扫掃 鞋鞋 衬襯 衫衫 背背 霜霜 红紅 华華 豆豆 零零 礼禮 叶葉 榄欖 榄欖 油油 卡卡 年年"
    " 产產 品品 页頁 为為 让讓 该該 总總 满滿 紧緊 张張 虑慮 门門 闪閃 退退 宝寶 表錶 块塊 厂廠 广廣 户戶 阳陽"
    " 尽盡 劲勁 虽雖 样樣 经經 给給 试試 从從 们們 么麼 还還 里裡 边邊 头頭 两兩 万萬 与與 专專 业業 严嚴 丰豐 为為 举舉 乐樂 书書 乱亂 产產 亲親 仅僅 价價 优優 会會 传傳 伤傷 体體 余餘 储儲 关關 兴興 养養 内內 写寫 决決 况況 净淨 减減 处處 击擊 则則 刚剛 别別 办辦 务務 动動 劳勞 区區 医醫 华華 协協 单單 卖賣 卫衛 却卻 厅廳 历歷 压壓 参參 双雙 发發 变變 号號 启啟 员員 响響 园園 围圍 图圖 场場 坏壞 块塊 执執 扫掃 护護 报報 担擔 择擇 挂掛 损損 换換 据據 摆擺 数數 断斷 无無 旧舊 时時 显顯 暂暫 术術 机機 杂雜 条條 来來 极極 标標 检檢 楼樓 欢歡 气氣 没沒 洁潔 测測 涨漲 温溫 满滿 灯燈 点點 烂爛 热熱 爱愛 状狀 独獨 环環 现現 电電 画畫 畅暢 盖蓋 码碼 确確 礼禮 离離 种種 称稱 稳穩 简簡 类類 紧緊 红紅 约約 级級 纸紙 线線 练練 组組 细細 终終 结結 给給 络絡 统統 续續 维維 编編 联聯 脏髒 脑腦 脸臉 节節 药藥 获獲 虑慮 补補 装裝 见見 观觀 规規 视視 觉覺 计計 订訂 认認 让讓 议議 记記 讲講 许許 论論 设設 访訪 证證 评評 识識 诉訴 试試 话話 询詢 该該 详詳 语語 误誤 说說 请請 读讀 谁誰 调調 谈談 谢謝 贝貝 负負 财財 责責 败敗 货貨 质質 购購 贴貼 贵貴 费費 资資 赔賠 赶趕 车車 转轉 软軟 轻輕 较較 输輸 边邊 达達 过過 运運 还還 这這 进進 远遠 连連 迟遲 适適 选選 递遞 邮郵 钟鐘 钱錢 铁鐵 银銀 销銷 锁鎖 锅鍋 错錯 键鍵 长長 门門 闪閃 问問 间間 队隊 阳陽 际際 险險 随隨 隐隱 难難 静靜 页頁 项項 顺順 须須 顾顧 顿頓 预預 领領 题題 额額 风風 饭飯 饮飲 馆館 马馬 验驗 骂罵 鸡雞 齐齊 宝寶 实實 宽寬 宾賓 对對 导導 层層 师師 带帶 帮幫 广廣 库庫 应應 开開 异異 张張 强強 录錄 态態 总總 惊驚 惯慣 愿願 户戶 夸誇 奖獎 妈媽 学學 后後 里裡 面面"
)
S2T = {ord(pair[0]): pair[1] for pair in _S2T_PAIRS.split() if len(pair) == 2}


# Topics whose templates talk about the physical product (breaking, operating, battery):
# consumables and services are referred to generically there ("宝贝", "item").
PHYSICAL_CATEGORIES = {
    "product_quality": ("electronics", "home", "apparel"),
    "functionality": ("electronics", "home"),
    "usability": ("electronics", "home"),
    "packaging": ("electronics", "home", "apparel", "beauty", "grocery"),
}
GENERIC_NOUNS = {"zh": ["东西", "产品", "宝贝"], "en": ["item", "product"]}


def product_nouns(lang: str, topic: str, category: str, noun: str) -> list[str]:
    """Nouns a clause of ``topic`` may use for a product ``noun`` of ``category``."""
    if topic in PHYSICAL_CATEGORIES and category not in PHYSICAL_CATEGORIES[topic]:
        return GENERIC_NOUNS[lang]
    return [noun]


def expand(template: str, lang: str, sentiment: str, product: str | list[str] | None) -> list[str]:
    """All fillings of one template's placeholders (``{p}``, ``{i}``, ``{n}``).

    ``{i}`` uses the sentiment's intensifiers; ``{n}`` the language's small numbers;
    ``{p}`` the given product noun(s). Returns distinct strings in a deterministic order.
    """
    slots: dict[str, list[str]] = {}
    if "{i}" in template:
        slots["i"] = INTENSIFIERS[(lang, sentiment)]
    if "{n}" in template:
        slots["n"] = NUMBERS[lang]
    if "{p}" in template:
        if isinstance(product, str):
            product = [product]
        slots["p"] = list(product) if product else GENERIC_NOUNS[lang]
    if not slots:
        return [template]
    keys = list(slots)
    out = []
    for values in itertools.product(*(slots[k] for k in keys)):
        out.append(template.format(**dict(zip(keys, values, strict=True))))
    return list(dict.fromkeys(out))
