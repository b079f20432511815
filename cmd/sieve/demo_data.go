package main

// The demo city's fixed data: Yuzhou's township-level units and the words the generated names
// are made of.

// demoTownship is one township-level unit of the demo city. U and V place its seed point in the
// city's ellipse (-1..1 on each axis, east and north); the township polygons are the Voronoi
// cells of these seeds.
type demoTownship struct {
	Code, Name, Kind string
	U, V             float64
}

// demoTownships are Yuzhou's 26 township-level units (public sources, 2020). The codes of the
// streets and of 火龙, 顺店, 方山 and 神垕 are the published ones; the others are numbered in the
// order listed in DESIGN.md and are not authoritative. The seed document calls 朱阁 a 乡.
var demoTownships = []demoTownship{
	{"411081001", "颍川街道", "街道", 0.27, -0.13},
	{"411081002", "夏都街道", "街道", 0.37, -0.17},
	{"411081003", "韩城街道", "街道", 0.19, -0.26},
	{"411081004", "钧台街道", "街道", 0.31, -0.33},
	{"411081100", "火龙镇", "镇", 0.62, 0.45},
	{"411081101", "顺店镇", "镇", 0.80, 0.00},
	{"411081102", "方山镇", "镇", -0.25, 0.20},
	{"411081103", "神垕镇", "镇", -0.70, -0.55},
	{"411081104", "无梁镇", "镇", -0.35, 0.70},
	{"411081105", "鸿畅镇", "镇", 0.55, -0.65},
	{"411081106", "梁北镇", "镇", 0.10, -0.70},
	{"411081107", "古城镇", "镇", 0.05, 0.72},
	{"411081108", "文殊镇", "镇", 0.35, 0.72},
	{"411081109", "鸠山镇", "镇", -0.82, 0.25},
	{"411081110", "褚河镇", "镇", 0.12, 0.25},
	{"411081111", "郭连镇", "镇", 0.85, -0.40},
	{"411081112", "范坡镇", "镇", 0.30, -0.80},
	{"411081113", "朱阁镇", "镇", 0.65, 0.15},
	{"411081114", "浅井镇", "镇", -0.55, 0.55},
	{"411081200", "苌庄乡", "乡", -0.85, -0.05},
	{"411081201", "张得乡", "乡", 0.40, 0.40},
	{"411081202", "小吕乡", "乡", 0.80, 0.32},
	{"411081203", "方岗乡", "乡", -0.05, -0.30},
	{"411081204", "磨街乡", "乡", -0.45, -0.45},
	{"411081205", "山货回族乡", "乡", -0.30, -0.10},
	{"411081206", "花石乡", "乡", -0.20, -0.60},
}

// The demo city's outline: an ellipse around (centreLon, centreLat) with these semi-axes in
// degrees, its radius rippled a little; about 1,460 km², inside 113.07-113.66 E, 33.99-34.41 N.
const (
	demoCentreLon = 113.40
	demoCentreLat = 34.19
	demoSemiLon   = 0.262
	demoSemiLat   = 0.175
)

// demoExited are the four firms of the seed's 附件1 (已退出危险化学品生产的企业名单), with the
// township (and village name, if any) their address names. The two industrial-park addresses
// name no township; they are placed in 韩城街道, the west of the city centre.
var demoExited = []struct {
	Name, Address, Township, Village string
}{
	{"禹州百灵生物农药有限公司", "禹州市花园工业西区", "411081003", ""},
	{"禹州市恒发溶解乙炔气厂", "禹州市朱阁乡大墙王村", "411081113", "大墙王村"},
	{"禹州市维立特化工有限公司", "禹州市西工业园区中端", "411081003", ""},
	{"撒尔夫(河南)农化有限公司", "禹州市朱阁乡工业园区", "411081113", ""},
}

var (
	demoSurnames = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高",
		"林", "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "程", "曹", "袁", "邓", "许",
		"傅", "沈", "彭", "吕", "苏", "卢", "蒋", "蔡", "贾", "丁", "魏", "薛", "叶", "阎", "潘", "杜"}
	demoGiven = []string{"建国", "建军", "国强", "志强", "秀英", "桂英", "玉兰", "明", "伟", "芳", "军", "勇", "磊",
		"洋", "艳", "杰", "娟", "涛", "超", "霞", "平", "刚", "桂兰", "红", "德福", "海", "春花", "长松", "富贵", "金凤",
		"振华", "保国", "新民", "丽", "晓东", "永胜", "俊峰", "爱民", "铁柱", "小红"}
	demoVillagePrefix = []string{"", "大", "小", "东", "西", "南", "北", "前", "后", "上", "下", "新"}
	demoVillageSuffix = []string{"庄", "沟", "营", "寨", "岗", "湾", "屯", "楼", "店", "洼", "河", "坡", "集", "桥",
		"园", "岭", "堂", "寺", "铺", "村"}
	demoCommunities = []string{"东关", "西关", "南关", "北关", "钧台", "八里营", "建设", "文化", "健康", "光明", "和平",
		"新华", "人民", "向阳", "滨河", "颍河", "书院", "古钧", "禹王", "丰华", "华夏", "三里桥", "汉和", "青年", "胜利",
		"药城", "瓷都", "天宝", "白沙", "星光", "翠园", "明珠", "锦绣", "春晖", "康宁", "新区", "夏都", "韩城"}
	demoFirmWords = []string{"恒信", "鑫源", "华丰", "宏达", "豫禹", "钧窑", "瑞祥", "金鼎", "永盛", "天成", "中原",
		"盛世", "福源", "兴隆", "鼎盛", "嘉禾", "润泽", "广源", "东方", "宝丰", "九州", "神州", "百川", "荣达"}
	demoIndustries = []string{"钧瓷", "中药材", "机械", "建材", "纺织", "食品", "塑料", "包装", "铸造", "商贸",
		"农业科技", "化工", "陶瓷", "饲料", "家具", "五金"}
)
