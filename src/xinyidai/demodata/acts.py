"""Vocabulary of public acts: departments, offences, licences, court causes, lists and honours."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Offence:
    """One kind of violation a department punishes: 违法行为类型, its legal basis and usual sanction."""

    behaviour: str
    fact: str
    basis: str
    #: 1 minor, 2 general, 3 serious: drives the sanctions chosen and the publication period.
    severity: int
    fine_min_yuan: int
    fine_max_yuan: int


@dataclass(frozen=True, slots=True)
class Department:
    """A kind of administrative authority present in every city and county."""

    key: str
    #: Name templates, formatted with ``city`` (e.g. 深圳市) and ``county`` (e.g. 深圳市南山区 or 平和县).
    city_name: str
    county_name: str
    #: Short code inside document numbers, e.g. 市监 in 深市监罚〔2024〕12号.
    doc_code: str
    #: Stable number (1–20) used to derive the authority's own organisation code.
    number: int
    #: Name template of the provincial authority, formatted with ``province``.
    province_name: str = ""


MARKET = Department("market", "{city}市场监督管理局", "{county}市场监督管理局", "市监", 1)
TAX = Department("tax", "国家税务总局{city}税务局", "国家税务总局{county}税务局", "税", 2)
ECOLOGY = Department("ecology", "{city}生态环境局", "{county}生态环境局", "环", 3)
SAFETY = Department("safety", "{city}应急管理局", "{county}应急管理局", "应急", 4)
FIRE = Department("fire", "{city}消防救援支队", "{county}消防救援大队", "消", 5)
URBAN = Department("urban", "{city}城市管理和综合执法局", "{county}城市管理和综合执法局", "城管", 6)
TRANSPORT = Department("transport", "{city}交通运输局", "{county}交通运输局", "交", 7)
LABOUR = Department("labour", "{city}人力资源和社会保障局", "{county}人力资源和社会保障局", "人社", 8)
HEALTH = Department("health", "{city}卫生健康委员会", "{county}卫生健康局", "卫健", 9)
HOUSING = Department("housing", "{city}住房和城乡建设局", "{county}住房和城乡建设局", "建", 10)
COMMERCE = Department("commerce", "{city}商务局", "{county}商务局", "商", 11)
CULTURE = Department("culture", "{city}文化广电旅游体育局", "{county}文化广电旅游体育局", "文", 12)
INDUSTRY_IT = Department("industry", "{city}工业和信息化局", "{county}工业和信息化局", "工信", 13)
TELECOM = Department("telecom", "", "", "通信", 14, "{province}通信管理局")

#: Offences by department with the department's share of all penalties.
OFFENCES: tuple[tuple[Department, int, tuple[Offence, ...]], ...] = (
    (
        MARKET,
        38,
        (
            Offence(
                "销售不符合食品安全标准的食品",
                "经营的预包装食品经抽样检验不合格",
                "《中华人民共和国食品安全法》第一百二十四条第一款",
                2,
                5000,
                100000,
            ),
            Offence(
                "发布虚假广告", "在网络店铺中对商品功效作虚假宣传", "《中华人民共和国广告法》第五十五条第一款", 2, 10000, 200000
            ),
            Offence(
                "销售侵犯注册商标专用权的商品",
                "销售侵犯他人注册商标专用权的商品",
                "《中华人民共和国商标法》第六十条第二款",
                2,
                3000,
                50000,
            ),
            Offence("不明码标价", "销售商品未按规定明码标价", "《中华人民共和国价格法》第四十二条", 1, 500, 5000),
            Offence(
                "使用未经定期检验的特种设备",
                "使用未经定期检验的电梯、叉车等特种设备",
                "《中华人民共和国特种设备安全法》第八十四条第一项",
                2,
                30000,
                300000,
            ),
            Offence(
                "生产销售不合格产品", "生产的产品经监督抽查不合格", "《中华人民共和国产品质量法》第四十九条", 3, 20000, 500000
            ),
            Offence(
                "未按规定办理变更登记",
                "住所变更后未依法办理变更登记",
                "《中华人民共和国市场主体登记管理条例》第四十六条",
                1,
                1000,
                10000,
            ),
        ),
    ),
    (
        TAX,
        16,
        (
            Offence(
                "未按照规定期限办理纳税申报和报送纳税资料",
                "未按照规定期限办理增值税纳税申报",
                "《中华人民共和国税收征收管理法》第六十二条",
                1,
                200,
                2000,
            ),
            Offence("丢失发票", "丢失已开具的增值税普通发票", "《中华人民共和国发票管理办法》第三十六条", 1, 200, 10000),
            Offence("虚开发票", "为他人虚开增值税专用发票", "《中华人民共和国发票管理办法》第三十五条", 3, 50000, 500000),
            Offence(
                "偷税",
                "采取少列收入方式进行虚假纳税申报，少缴税款",
                "《中华人民共和国税收征收管理法》第六十三条第一款",
                3,
                20000,
                800000,
            ),
        ),
    ),
    (
        ECOLOGY,
        10,
        (
            Offence(
                "超标排放大气污染物",
                "排放的废气中颗粒物浓度超过排放标准",
                "《中华人民共和国大气污染防治法》第九十九条第二项",
                2,
                100000,
                1000000,
            ),
            Offence(
                "未批先建",
                "建设项目环境影响报告表未经批准擅自开工建设",
                "《中华人民共和国环境影响评价法》第三十一条第一款",
                2,
                50000,
                300000,
            ),
            Offence(
                "危险废物未按规定设置识别标志",
                "危险废物贮存场所未设置危险废物识别标志",
                "《中华人民共和国固体废物污染环境防治法》第一百一十二条第一款第一项",
                1,
                10000,
                100000,
            ),
        ),
    ),
    (
        SAFETY,
        8,
        (
            Offence(
                "未按规定对从业人员进行安全生产教育和培训",
                "未如实记录安全生产教育和培训情况",
                "《中华人民共和国安全生产法》第九十七条第三项",
                1,
                10000,
                100000,
            ),
            Offence(
                "未对重大危险源登记建档",
                "未对重大危险源登记建档并进行定期检测、评估、监控",
                "《中华人民共和国安全生产法》第一百零一条第二项",
                2,
                50000,
                200000,
            ),
            Offence(
                "生产经营场所不符合安全要求",
                "生产经营场所与员工宿舍在同一座建筑物内",
                "《中华人民共和国安全生产法》第一百零五条第二项",
                3,
                50000,
                200000,
            ),
        ),
    ),
    (
        FIRE,
        7,
        (
            Offence(
                "消防设施、器材未保持完好有效",
                "消防设施、器材未保持完好有效",
                "《中华人民共和国消防法》第六十条第一款第一项",
                1,
                5000,
                50000,
            ),
            Offence(
                "占用、堵塞、封闭疏散通道、安全出口",
                "占用、堵塞疏散通道",
                "《中华人民共和国消防法》第六十条第一款第三项",
                2,
                5000,
                50000,
            ),
        ),
    ),
    (
        URBAN,
        8,
        (
            Offence(
                "擅自设置户外广告设施",
                "未经批准擅自设置户外广告设施",
                "《城市市容和环境卫生管理条例》第三十六条第二项",
                1,
                500,
                10000,
            ),
            Offence(
                "擅自占用城市道路", "未经批准擅自占用城市道路堆放物料", "《城市道路管理条例》第四十二条第二项", 1, 500, 20000
            ),
        ),
    ),
    (
        TRANSPORT,
        5,
        (
            Offence(
                "未取得道路运输经营许可擅自从事道路运输经营",
                "未取得道路运输经营许可，擅自从事道路普通货物运输经营",
                "《中华人民共和国道路运输条例》第六十三条",
                2,
                10000,
                100000,
            ),
            Offence(
                "货运车辆超限运输",
                "车货总质量超过限定标准在公路上行驶",
                "《中华人民共和国公路法》第七十六条第五项",
                1,
                1000,
                30000,
            ),
        ),
    ),
    (
        LABOUR,
        4,
        (
            Offence(
                "未按规定办理社会保险登记",
                "未按规定为招用的职工办理社会保险登记",
                "《中华人民共和国社会保险法》第八十四条",
                1,
                1000,
                10000,
            ),
            Offence(
                "违反工作时间和休息休假规定",
                "安排劳动者延长工作时间超过法定限度",
                "《劳动保障监察条例》第二十五条",
                1,
                1000,
                20000,
            ),
        ),
    ),
    (
        HEALTH,
        4,
        (
            Offence(
                "未取得公共场所卫生许可证擅自营业",
                "未取得公共场所卫生许可证擅自营业",
                "《公共场所卫生管理条例实施细则》第三十五条",
                1,
                500,
                5000,
            ),
            Offence(
                "从业人员未取得有效健康合格证明",
                "安排未取得有效健康合格证明的从业人员从事直接为顾客服务的工作",
                "《公共场所卫生管理条例实施细则》第三十八条",
                1,
                500,
                5000,
            ),
        ),
    ),
)

#: 处罚类别 by severity; the first entry of each tuple always applies.
SANCTIONS_MINOR = ("警告", "罚款")
SANCTION_CONFISCATE = "没收违法所得"
SANCTION_SUSPEND_LICENCE = "暂扣许可证件"
SANCTION_SUSPEND_BUSINESS = "责令停产停业"
SANCTION_REVOKE_LICENCE = "吊销许可证件"
SANCTION_FINE = "罚款"
SANCTION_WARNING = "警告"


@dataclass(frozen=True, slots=True)
class LicenceType:
    """A licence (许可证件) an enterprise may hold."""

    certificate: str
    department: Department
    category: str
    #: Prefix of the certificate number, e.g. JY for 食品经营许可证.
    number_prefix: str
    valid_years: int
    content: str
    #: Level of the granting authority: county, city or province.
    level: str = "county"


FOOD_BUSINESS = LicenceType("食品经营许可证", MARKET, "普通", "JY", 5, "预包装食品销售（含冷藏冷冻食品）；散装食品销售")
FOOD_PRODUCTION = LicenceType("食品生产许可证", MARKET, "普通", "SC", 5, "糕点；饮料；方便食品")
INDUSTRIAL_PRODUCT = LicenceType("全国工业产品生产许可证", MARKET, "普通", "XK", 5, "电线电缆；危险化学品包装物及容器")
DISCHARGE = LicenceType("排污许可证", ECOLOGY, "普通", "PW", 5, "废气、废水污染物排放（简化管理）")
CONSTRUCTION = LicenceType(
    "建筑业企业资质证书", HOUSING, "认可", "D3", 5, "建筑工程施工总承包三级；市政公用工程施工总承包三级", "city"
)
ROAD_TRANSPORT = LicenceType("道路运输经营许可证", TRANSPORT, "特许", "YS", 4, "道路普通货物运输；货物专用运输（集装箱）")
HYGIENE = LicenceType("公共场所卫生许可证", HEALTH, "普通", "WS", 4, "住宿场所；美容美发场所")
HAZARDOUS = LicenceType("危险化学品经营许可证", SAFETY, "普通", "WH", 3, "危险化学品经营（不带储存设施）")
TELECOM_VALUE_ADDED = LicenceType(
    "增值电信业务经营许可证", TELECOM, "特许", "B2", 5, "第二类增值电信业务中的信息服务业务（仅限互联网信息服务）", "province"
)
HUMAN_RESOURCES = LicenceType("人力资源服务许可证", LABOUR, "普通", "RL", 5, "职业中介活动；人力资源供求信息的收集和发布")
LIQUOR = LicenceType("酒类商品零售许可证", COMMERCE, "普通", "JL", 3, "酒类商品零售")
MEDICAL_DEVICE = LicenceType("第三类医疗器械经营许可证", MARKET, "普通", "YJ", 5, "第三类医疗器械批发、零售")
PERFORMANCE = LicenceType("营业性演出许可证", CULTURE, "普通", "YC", 2, "营业性演出经纪")
OUTDOOR_AD = LicenceType("户外广告设施设置许可", URBAN, "核准", "HG", 3, "户外广告设施设置")

#: Industry section → licences its firms plausibly hold (first is most common).
LICENCES_BY_SECTION: dict[str, tuple[LicenceType, ...]] = {
    "A": (FOOD_PRODUCTION, DISCHARGE),
    "B": (DISCHARGE, HAZARDOUS),
    "C": (DISCHARGE, INDUSTRIAL_PRODUCT, FOOD_PRODUCTION, HAZARDOUS),
    "D": (DISCHARGE, HAZARDOUS),
    "E": (CONSTRUCTION, DISCHARGE),
    "F": (FOOD_BUSINESS, LIQUOR, MEDICAL_DEVICE, HAZARDOUS),
    "G": (ROAD_TRANSPORT, HAZARDOUS),
    "H": (FOOD_BUSINESS, HYGIENE, LIQUOR),
    "I": (TELECOM_VALUE_ADDED,),
    "L": (HUMAN_RESOURCES, OUTDOOR_AD),
    "M": (DISCHARGE,),
    "O": (HYGIENE,),
    "Q": (MEDICAL_DEVICE, HYGIENE),
    "R": (PERFORMANCE, HYGIENE),
}
LICENCES_FALLBACK: tuple[LicenceType, ...] = (OUTDOOR_AD,)

# --- courts -------------------------------------------------------------------------------------

CIVIL_CAUSES = (
    "买卖合同纠纷", "买卖合同纠纷", "借款合同纠纷", "金融借款合同纠纷", "民间借贷纠纷", "租赁合同纠纷",
    "建设工程施工合同纠纷", "服务合同纠纷", "劳动争议", "追索劳动报酬纠纷", "承揽合同纠纷", "侵害商标权纠纷",
    "运输合同纠纷", "房屋租赁合同纠纷",
)  # fmt: skip
ADMINISTRATIVE_CAUSES = ("不服行政处罚决定", "行政许可纠纷")
RESULTS_FOR_PLAINTIFF = ("支持原告诉讼请求", "部分支持原告诉讼请求")
RESULTS_NEUTRAL = ("调解结案", "原告撤诉")
RESULT_DISMISSED = "驳回原告诉讼请求"
ROLE_PLAINTIFF = "原告"
ROLE_DEFENDANT = "被告"
ROLE_THIRD_PARTY = "第三人"

PERFORMANCE_NONE = "全部未履行"
PERFORMANCE_PARTIAL = "部分履行"
PERFORMANCE_FULL = "全部履行"

# --- 经营异常名录 -------------------------------------------------------------------------------

#: (listing reason, removal reason); the first is by far the most common.
ABNORMAL_REASONS: tuple[tuple[str, str], ...] = (
    ("未依照《企业信息公示暂行条例》第八条规定的期限公示年度报告", "补报未报年份的年度报告并公示"),
    ("通过登记的住所或者经营场所无法联系", "依法办理住所或者经营场所变更登记"),
    ("未在市场监督管理部门依照《企业信息公示暂行条例》第十条规定责令的期限内公示有关企业信息", "已履行即时信息公示义务"),
    ("公示企业信息隐瞒真实情况、弄虚作假", "更正其公示的信息"),
)
ABNORMAL_WEIGHTS = (70, 20, 6, 4)

# --- honours --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Honour:
    """An honour (诚实守信相关荣誉) and who grants it at which level."""

    title: str
    #: Grantor template formatted with ``province``, ``city`` and ``county`` names.
    grantor: str
    level: str
    min_quality: float


HONOURS: tuple[Honour, ...] = (
    Honour("守合同重信用企业", "{province}市场监督管理局", "省级", 0.70),
    Honour("守合同重信用企业", "{city}市场监督管理局", "市级", 0.65),
    Honour("纳税信用A级纳税人", "国家税务总局{province}税务局", "省级", 0.75),
    Honour("高新技术企业", "{province}科学技术厅", "国家级", 0.70),
    Honour("专精特新中小企业", "{province}工业和信息化厅", "省级", 0.75),
    Honour("专精特新“小巨人”企业", "中华人民共和国工业和信息化部", "国家级", 0.85),
    Honour("劳动保障诚信示范单位", "{city}人力资源和社会保障局", "市级", 0.70),
    Honour("诚信经营示范单位", "{county}市场监督管理局", "区县级", 0.60),
    Honour("重合同守信用企业", "{county}人民政府", "区县级", 0.60),
)

CUSTOMS_ADVANCED = "高级认证企业"
CUSTOMS_GENERAL = "一般信用企业"
CUSTOMS_DISHONEST = "失信企业"

TAX_TYPES_VAT = "增值税"
TAX_TYPES_CITY = "城市维护建设税"
TAX_TYPES_CIT = "企业所得税"
TAX_TYPES_IIT = "个人所得税"

UTILITIES = ("water", "electricity", "gas")
