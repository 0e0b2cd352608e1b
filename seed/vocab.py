"""Content vocabulary: interest communities with their hashtags, phrases, places and colours."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Community:
    name: str
    tags_en: tuple[str, ...]
    tags_ko: tuple[str, ...]
    phrases_en: tuple[str, ...]
    phrases_ko: tuple[str, ...]
    place_en: tuple[str, ...]
    place_ko: tuple[str, ...]
    colours: tuple[tuple[int, int, int], tuple[int, int, int]]


COMMUNITIES: tuple[Community, ...] = (
    Community(
        "food",
        ("food", "foodie", "brunch", "ramen", "dessert", "bbq", "streetfood", "homecooking"),
        ("맛집", "먹스타그램", "디저트", "맛스타그램", "오늘뭐먹지", "집밥", "고기"),
        ("Best ramen in town", "Brunch with the crew", "Cooked this tonight", "Dessert first"),
        ("오늘의 맛집 발견", "웨이팅 한 시간 했지만 만족", "집밥이 최고야", "디저트는 못 참지"),
        ("Kitchen", "Bistro", "Noodle Bar"),
        ("식당", "국밥집", "분식"),
        ((230, 120, 60), (250, 210, 120)),
    ),
    Community(
        "travel",
        ("travel", "wanderlust", "trip", "travelgram", "jeju", "busan", "roadtrip", "beach"),
        ("여행", "여행스타그램", "제주여행", "부산여행", "국내여행", "바다"),
        ("Somewhere new", "Sunset from the hotel", "Road trip day three", "Take me back"),
        ("다시 가고 싶은 곳", "제주 바다는 언제나 옳다", "여행 셋째 날", "노을 맛집"),
        ("Beach", "Harbor", "Hotel"),
        ("해변", "항구", "게스트하우스"),
        ((40, 140, 200), (160, 220, 240)),
    ),
    Community(
        "fitness",
        ("fitness", "gym", "workout", "running", "yoga", "pilates", "marathon", "legday"),
        ("운동", "헬스", "오운완", "러닝", "요가", "필라테스", "바디프로필"),
        ("Leg day done", "New personal best", "Morning run", "No excuses"),
        ("오늘도 오운완", "아침 러닝 10km", "하체 운동 끝", "꾸준함이 답이다"),
        ("Gym", "Fitness Club", "Track"),
        ("헬스장", "필라테스", "운동장"),
        ((200, 40, 60), (250, 150, 100)),
    ),
    Community(
        "fashion",
        ("ootd", "fashion", "style", "streetstyle", "outfit", "vintage", "sneakers", "lookbook"),
        ("데일리룩", "오오티디", "패션", "코디", "빈티지", "스트릿패션"),
        ("Outfit of the day", "Thrifted this", "New drop", "Layers for fall"),
        ("오늘의 코디", "빈티지샵에서 득템", "가을 코디 추천", "신상 입고"),
        ("Boutique", "Showroom", "Vintage Shop"),
        ("편집숍", "쇼룸", "빈티지샵"),
        ((120, 60, 160), (240, 180, 220)),
    ),
    Community(
        "pets",
        ("dog", "cat", "puppy", "dogsofinstagram", "catsofinstagram", "petlover", "corgi"),
        ("강아지", "고양이", "댕댕이", "냥스타그램", "멍스타그램", "반려견"),
        ("Look at this face", "Walk time", "Sleepy boy", "She owns the couch"),
        ("우리집 댕댕이", "산책 가자", "오늘도 귀여움 폭발", "냥이는 사랑입니다"),
        ("Dog Park", "Pet Cafe", "Vet"),
        ("애견카페", "애견운동장", "동물병원"),
        ((170, 120, 80), (240, 220, 190)),
    ),
    Community(
        "photography",
        ("photography", "filmcamera", "35mm", "streetphoto", "portrait", "landscape", "nikon"),
        ("사진", "필름카메라", "감성사진", "출사", "풍경사진", "인물사진"),
        ("Shot on film", "Golden hour", "Light and shadow", "Street corner"),
        ("필름으로 담은 하루", "골든아워", "빛과 그림자", "출사 다녀왔어요"),
        ("Gallery", "Studio", "Viewpoint"),
        ("사진관", "스튜디오", "전망대"),
        ((50, 50, 60), (200, 200, 190)),
    ),
    Community(
        "music",
        ("music", "concert", "guitar", "vinyl", "livemusic", "festival", "piano", "jazz"),
        ("음악", "공연", "콘서트", "버스킹", "기타", "페스티벌"),
        ("Front row", "New record", "Jam session", "Live tonight"),
        ("오늘 공연 최고", "버스킹 중", "새 앨범 들어요", "페스티벌 가즈아"),
        ("Live Hall", "Jazz Club", "Record Shop"),
        ("공연장", "재즈바", "레코드샵"),
        ((30, 30, 90), (200, 80, 200)),
    ),
    Community(
        "tech",
        ("tech", "coding", "developer", "python", "setup", "gadgets", "startup", "ai"),
        ("개발자", "코딩", "데스크셋업", "개발일지", "스타트업", "전자기기"),
        ("Desk setup", "Shipped it", "Late night debugging", "New keyboard"),
        ("오늘의 데스크셋업", "배포 완료", "야근 중 디버깅", "새 키보드 도착"),
        ("Coworking", "Tech Hub", "Electronics"),
        ("공유오피스", "전자상가", "개발자카페"),
        ((20, 80, 80), (90, 220, 180)),
    ),
    Community(
        "art",
        ("art", "drawing", "illustration", "painting", "sketch", "watercolor", "artist"),
        ("그림", "일러스트", "드로잉", "수채화", "전시회", "미술관"),
        ("Work in progress", "Finished piece", "Sketchbook", "Gallery day"),
        ("작업 중", "완성작", "스케치북 공개", "전시회 다녀옴"),
        ("Art Museum", "Gallery", "Atelier"),
        ("미술관", "갤러리", "화실"),
        ((220, 180, 40), (80, 40, 120)),
    ),
    Community(
        "outdoors",
        ("hiking", "camping", "mountain", "nature", "outdoors", "trail", "forest", "climbing"),
        ("등산", "캠핑", "산", "자연", "등린이", "백패킹"),
        ("Summit reached", "Camp for the night", "Into the woods", "Trail mix"),
        ("정상 도착", "캠핑 1박", "숲길 산책", "등산 후 막걸리"),
        ("Mountain", "Campground", "National Park"),
        ("산", "캠핑장", "국립공원"),
        ((40, 110, 50), (170, 210, 140)),
    ),
    Community(
        "kpop",
        ("kpop", "idol", "fancam", "dance", "kpopfan", "comeback", "bias", "concerttime"),
        ("케이팝", "아이돌", "직캠", "덕질", "컴백", "최애"),
        ("Comeback day", "Dance cover", "Fancam time", "Bias wrecked"),
        ("컴백 축하해", "댄스 커버 해봤어요", "직캠 모음", "최애 사랑해"),
        ("Arena", "Dance Studio", "Fan Cafe"),
        ("공연장", "댄스학원", "생일카페"),
        ((240, 80, 150), (140, 220, 250)),
    ),
    Community(
        "books",
        ("books", "bookstagram", "reading", "library", "coffee", "cafe", "novel", "study"),
        ("책스타그램", "독서", "카페", "커피", "도서관", "공부"),
        ("Reading corner", "Coffee and a book", "Finished this novel", "Study session"),
        ("카페에서 독서", "오늘의 책", "공부하기 좋은 카페", "커피 한 잔"),
        ("Bookstore", "Cafe", "Library"),
        ("서점", "카페", "도서관"),
        ((110, 80, 50), (230, 210, 170)),
    ),
)

# Tags everyone uses regardless of interest: the head of the global Zipf curve.
GENERIC_TAGS: tuple[str, ...] = (
    "daily",
    "일상",
    "instagood",
    "소통",
    "photooftheday",
    "선팔",
    "love",
    "weekend",
    "주말",
    "happy",
    "좋아요",
    "행복",
)

TAG_SUFFIX_EN = (
    "lover",
    "life",
    "gram",
    "daily",
    "time",
    "addict",
    "vibes",
    "korea",
    "seoul",
    "club",
    "diary",
    "goals",
    "moment",
    "world",
)
TAG_SUFFIX_KO = ("스타그램", "추천", "일기", "모임", "그램", "챌린지", "기록", "사랑", "투어")

EMOJI = ("", "", "", " ✨", " 🙌", " 😍", " 🔥", " 💯", " ☀️", " 🥰", " 📸", " 🙏")

COMMENTS_EN = (
    "Love this!",
    "wow",
    "Where is this?",
    "So good",
    "Amazing shot",
    "Need this",
    "Goals",
    "This is everything",
    "Beautiful",
    "Take me with you next time",
)
COMMENTS_KO = (
    "너무 예뻐요!",
    "대박",
    "어디예요?",
    "저도 가보고 싶어요",
    "완전 좋다",
    "부럽다",
    "최고예요",
    "사진 너무 잘 찍으셨어요",
    "와 미쳤다",
    "다음에 같이 가요",
)
CHAT_EN = (
    "hey!",
    "are you free tonight?",
    "haha yes",
    "omw",
    "did you see this?",
    "lol",
    "sounds good",
    "see you there",
    "thanks!",
    "what time?",
)
CHAT_KO = (
    "안녕!",
    "오늘 시간 돼?",
    "ㅋㅋㅋㅋ",
    "지금 가는 중",
    "이거 봤어?",
    "좋아 좋아",
    "거기서 봐",
    "고마워!",
    "몇 시에?",
    "헐 대박",
)
GROUP_TITLES_EN = ("weekend crew", "study group", "team", "trip planning", "besties")
GROUP_TITLES_KO = ("주말 모임", "스터디", "동기방", "여행 계획", "찐친방")

# Romanised given names and surnames for Korean users' usernames (names themselves are Hangul).
KO_GIVEN_ROMAN = (
    "minji",
    "jiwoo",
    "seoyeon",
    "hyunwoo",
    "jisoo",
    "doyoon",
    "yuna",
    "minho",
    "eunji",
    "jihoon",
    "sora",
    "taeyang",
    "haeun",
    "junseo",
    "dahye",
    "seojun",
)
KO_SURNAME_ROMAN = ("kim", "lee", "park", "choi", "jung", "kang", "cho", "yoon", "jang", "lim")
