"""Word pools for synthetic records: Faker's zh_CN lists read once, plus domain vocabulary."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from faker.providers.address.zh_CN import Provider as AddressProvider
from faker.providers.company.zh_CN import Provider as CompanyProvider
from faker.providers.person.zh_CN import Provider as PersonProvider

#: Province-level division code (first two digits) → official one-character abbreviation.
PROVINCE_ABBREVIATIONS: dict[str, str] = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙", "21": "辽", "22": "吉", "23": "黑",
    "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁", "41": "豫",
    "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼", "50": "渝", "51": "川", "52": "贵",
    "53": "云", "54": "藏", "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新",
}  # fmt: skip

#: Relative weight of each province in the synthetic population (unlisted provinces weigh 1).
#: Skewed toward the coastal provinces that register most market entities.
PROVINCE_WEIGHTS: dict[str, int] = {
    "44": 14, "32": 10, "33": 10, "37": 8, "35": 6, "31": 5, "11": 5, "50": 4, "51": 4, "41": 4,
    "42": 3, "43": 3, "34": 3, "13": 3,
}  # fmt: skip

#: Characters a shop or company name (字号) is commonly built from.
TRADE_NAME_CHARS = (
    "华泰鑫恒瑞达盛鼎宏丰源博嘉信安诚德兴隆顺通汇和润锦宇创智联新康美佳豪海天金中远正昌荣祥"
    "福永益利群众力凯越腾飞龙星辰阳光明晨东南西北晟昊轩豪诺维启睿祺晖卓凌峰岳川江湖山林森"
    "禾谷丰裕富贵元亨弘毅仁义礼乐善君辉煌灿耀华夏九州万千百合众邦亿洲宝骏驰展拓铭铂钰玺"
)


@lru_cache(maxsize=1)
def faker_trade_names() -> tuple[str, ...]:
    """Two-character trade names from Faker's zh_CN company provider, de-duplicated, in list order."""
    seen: dict[str, None] = {}
    for prefix in CompanyProvider.company_prefixes:
        if len(prefix) == 2 and all("\u4e00" <= ch <= "\u9fff" for ch in prefix):
            seen.setdefault(prefix, None)
    return tuple(seen)


@dataclass(frozen=True, slots=True)
class NamePools:
    """Surnames with cumulative weights and given names, read once from Faker's zh_CN person provider."""

    surnames: tuple[str, ...]
    surname_cumulative: tuple[float, ...]
    male_given: tuple[str, ...]
    female_given: tuple[str, ...]
    male_single: tuple[str, ...]
    female_single: tuple[str, ...]


@lru_cache(maxsize=1)
def name_pools() -> NamePools:
    """Build the person-name pools (surname frequencies as published in Faker)."""
    surnames: list[str] = []
    cumulative: list[float] = []
    total = 0.0
    for surname, weight in PersonProvider.last_names.items():
        total += float(weight)
        surnames.append(surname)
        cumulative.append(total)
    male = tuple(PersonProvider.first_names_male)
    female = tuple(PersonProvider.first_names_female)
    return NamePools(
        surnames=tuple(surnames),
        surname_cumulative=tuple(cumulative),
        male_given=male,
        female_given=female,
        male_single=tuple(n for n in male if len(n) == 1),
        female_single=tuple(n for n in female if len(n) == 1),
    )


@lru_cache(maxsize=1)
def street_words() -> tuple[str, ...]:
    """Street-name stems: Faker's city and district names (e.g. 萧山, 翔安)."""
    seen: dict[str, None] = {}
    for word in (*AddressProvider.cities, *AddressProvider.districts):
        if 2 <= len(word) <= 3:
            seen.setdefault(word, None)
    return tuple(seen)


STREET_SUFFIXES = ("路", "路", "街", "大道", "大街", "南路", "北路", "东路", "西路", "中路")
BUILDING_WORDS = ("大厦", "广场", "中心", "科技园", "商务楼", "产业园", "工业园", "创业园", "国际大厦", "商业街")

#: Industry section (GB/T 4754 门类) → words that end a company name before 有限公司.
INDUSTRY_WORDS: dict[str, tuple[str, ...]] = {
    "A": ("农业发展", "生态农业", "农业科技", "林业", "养殖", "水产养殖", "种植"),
    "B": ("矿业", "石材", "矿产品开发"),
    "C": ("电子科技", "机械制造", "精密五金", "塑胶制品", "服装", "食品", "新材料", "包装材料", "家具",
          "印刷", "模具", "电器", "化工", "纺织", "光电科技", "医疗器械", "汽车配件"),
    "D": ("新能源", "电力工程", "能源科技", "燃气"),
    "E": ("建筑工程", "建设工程", "装饰工程", "市政工程", "园林绿化工程", "机电安装工程"),
    "F": ("贸易", "商贸", "供应链管理", "实业", "进出口", "百货", "医药", "建材"),
    "G": ("物流", "运输", "货运代理", "仓储", "国际货运代理"),
    "H": ("餐饮管理", "酒店管理", "餐饮服务"),
    "I": ("信息技术", "网络科技", "软件", "数据科技", "智能科技", "通信技术"),
    "J": ("融资租赁", "商业保理", "投资管理"),
    "K": ("房地产开发", "物业管理", "置业"),
    "L": ("企业管理咨询", "商务服务", "广告", "人力资源", "文化传媒", "会展服务"),
    "M": ("检测技术", "工程设计", "科技", "环保科技", "生物科技", "技术服务"),
    "N": ("环境工程", "水务", "园林"),
    "O": ("家政服务", "汽车服务", "美容美发", "维修服务"),
    "P": ("教育科技", "培训", "文化教育"),
    "Q": ("健康管理", "医疗科技", "养老服务"),
    "R": ("文化传播", "体育发展", "影视文化", "文化旅游"),
    "S": ("社区服务", "公共管理服务"),
    "T": ("国际服务",),
}  # fmt: skip

#: Shop-type words for 个体工商户 names.
SHOP_WORDS: dict[str, tuple[str, ...]] = {
    "A": ("家庭农场", "养殖场", "种植场"),
    "C": ("加工厂", "五金加工店", "服装加工店", "食品加工坊"),
    "F": ("便利店", "商行", "超市", "日用品店", "五金店", "建材店", "水果店", "烟酒店", "服装店"),
    "H": ("餐馆", "小吃店", "面馆", "饭店", "奶茶店", "快餐店"),
    "O": ("理发店", "汽车维修部", "洗衣店", "家电维修部", "美容院"),
}
SHOP_FALLBACK = ("经营部", "服务部", "工作室")

#: Products named by farmers' co-operatives (农民专业合作社).
COOP_PRODUCTS = ("蔬菜", "水果", "茶叶", "生猪", "肉牛", "水稻", "食用菌", "中药材", "蜜柚", "葡萄", "花卉", "家禽", "苗木")
COOP_ACTIVITIES = ("种植", "养殖", "种养")

#: Industry section → a short 经营范围 text (一般项目 wording of the 经营范围规范表述).
BUSINESS_SCOPES: dict[str, str] = {
    "A": "一般项目：谷物种植；蔬菜种植；水果种植；牲畜饲养；农产品的生产、销售、加工、运输、贮藏及其他相关服务；农业机械服务。",
    "B": "一般项目：非金属矿及制品销售；建筑用石加工；矿山机械销售。",
    "C": "一般项目：电子元器件制造；五金产品制造；塑料制品制造；机械零件、零部件加工；货物进出口；技术进出口。",
    "D": "一般项目：太阳能发电技术服务；合同能源管理；储能技术服务；电力设施器材销售。",
    "E": "许可项目：建设工程施工；住宅室内装饰装修。一般项目：园林绿化工程施工；土石方工程施工；建筑材料销售。",
    "F": "一般项目：日用百货销售；五金产品批发；建筑材料销售；食品销售（仅销售预包装食品）；货物进出口。",
    "G": "一般项目：普通货物仓储服务；国内货物运输代理；装卸搬运；供应链管理服务。许可项目：道路货物运输。",
    "H": "许可项目：餐饮服务；食品经营。一般项目：餐饮管理；酒店管理。",
    "I": "一般项目：软件开发；信息技术咨询服务；信息系统集成服务；数据处理和存储支持服务；网络技术服务。",
    "J": "一般项目：融资咨询服务；以自有资金从事投资活动。",
    "K": "一般项目：物业管理；房地产经纪；住房租赁；非居住房地产租赁。",
    "L": "一般项目：企业管理咨询；市场营销策划；会议及展览服务；广告设计、代理；人力资源服务。",
    "M": "一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；检验检测服务；工程技术服务。",
    "N": "一般项目：环境卫生公共设施安装服务；园林绿化工程施工；水污染治理。",
    "O": "一般项目：家政服务；洗染服务；机动车修理和维护；美发饰品销售；家用电器安装服务。",
    "P": "一般项目：教育咨询服务；业务培训（不含教育培训、职业技能培训等需取得许可的培训）。",
    "Q": "一般项目：健康咨询服务；养老服务；第二类医疗器械销售。",
    "R": "一般项目：组织文化艺术交流活动；体育赛事策划；文艺创作；票务代理服务。",
    "S": "一般项目：社区服务；物业管理。",
    "T": "一般项目：国际组织驻华代表机构服务。",
}

#: Registration status values as the market-supervision registry shows them.
STATUS_ACTIVE = "存续"
STATUS_OPERATING = "在业"
STATUS_SUSPENDED = "停业"
STATUS_MOVED_OUT = "迁出"
STATUS_REVOKED = "吊销"
STATUS_CANCELLED = "注销"

ENTITY_TYPES_COMPANY = (
    "有限责任公司（自然人投资或控股）",
    "有限责任公司（自然人独资）",
    "其他有限责任公司",
    "股份有限公司（非上市、自然人投资或控股）",
    "个人独资企业",
    "普通合伙企业",
)
ENTITY_TYPE_SOLE = "个体工商户"
ENTITY_TYPE_COOP = "农民专业合作社"

ID_TYPE_RESIDENT = "身份证"

#: Subject categories of the 双公示 formats (相对人类别).
SUBJECT_LEGAL = "法人及非法人组织"
SUBJECT_SOLE = "个体工商户"
