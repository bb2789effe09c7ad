"""Task prompts: the release's own first (architecture facts §8), then varied phrasings.

`converters.common.phrase` picks the release's phrasing half of the time, so that a model trained
on converted data answers the benchmarks' exact prompts and still understands paraphrases.
"""

SHORT_ANSWER = "\nAnswer the question using a single word or phrase."
OPTION_LETTER = "\nAnswer with the option's letter from the given choices directly."

CLASSIFY = (
    "Classify the image.",
    "What is the main object in this image?",
    "Which category does this image belong to?",
    "Name the object shown in the image.",
)
DETECT = (
    "Detect all {category} shown in the image.",
    "Find every {category} in the image and give its bounding box.",
    "Where is each {category} in this image? Give the bounding boxes.",
    "Locate all instances of {category} in the image.",
)
REC = (
    "Please provide the bounding box coordinate of the region this sentence describes: {phrase}.",
    "Where is {phrase} in the image? Answer with a bounding box.",
    "Give the bounding box of {phrase}.",
    "Locate {phrase} in the image.",
)
REGION_CAPTION = (
    "Please provide a short description for this region: {box}.",
    "What is in the region {box}?",
    "Describe the region {box} briefly.",
)
KEYPOINTS = (
    "Detect the key points of the person in the region {box}.",
    "Where are the body key points of the person at {box}?",
    "Locate the key points of the person in {box}.",
)
GROUNDED_CAPTION = (
    "Describe the image briefly, giving the bounding box of every object you mention.",
    "Write a short caption of the image with the location of each mentioned object.",
    "Caption the image and ground the objects you mention with boxes.",
)
CAPTION = (
    "Describe the image briefly.",
    "Write a short caption for this image.",
    "Summarise the content of the image in one sentence.",
    "What does this image show? Answer in one sentence.",
)
DETAILED_CAPTION = (
    "Describe this image in detail.",
    "Give a detailed description of the image.",
    "What is in this picture? Describe it thoroughly.",
)
LAYOUT = (
    "Detect all layout elements of this page and give their categories and bounding boxes.",
    "What is the layout of this document? Give each element's category and box.",
    "Parse the page layout into titles, text, lists, tables and figures with their boxes.",
)
SPOT = (
    "Please detect all texts and provide their bounding box coordinate.",
    "Find every piece of text in the image with its bounding box.",
    "Spot the text lines of the image and give each one's box.",
)
READ = (
    "What is written in the image?",
    "Read all the text in the image.",
    "Transcribe the text of this page in reading order.",
)
REGION_TEXT = (
    "What is the text in the region {box}?",
    "Read the text inside {box}.",
    "Which text is written in the region {box}?",
)
TABLE_FACT = (
    "Is the following statement about the table true or false? {statement}",
    "Based on the table, is this statement true or false? {statement}",
)
SET_OF_MARK = (
    "The image has these marks: {marks}. Describe each mark.",
    "Marks on the image: {marks}. What does each mark show?",
    "Here are marked regions of the image: {marks}. Explain what is in each of them.",
)
KEYPOINTS_OF = (
    "Detect the key points of the {category} in the region {box}.",
    "Where are the key points of the {category} at {box}?",
    "Locate the key points of the {category} in {box}.",
)
# SeeClick's grounding prompt first (ScreenSpot asks it), then variants; points are [x, y].
GUI_POINT = (
    'In this UI screenshot, what is the position of the element corresponding to the command "{instruction}" (with point)?',
    'Where should I click to "{instruction}"? Answer with a point.',
    'Give the point of the screen element for: "{instruction}".',
)
GUI_ELEMENT = (
    "What is the element at {box} in this screenshot?",
    "Describe the UI element in the region {box}.",
    "What does the element at {box} do?",
)
KEY_VALUE = (
    'What is the value for the "{key}"?',
    "What is the {key} in this document?",
    'Find the "{key}" in this document.',
)


# Set-of-Mark: the captioner's instruction for each kind of image (`data som --domain`).
SOM_DOMAINS = {
    "natural": "This is a natural image. Describe the whole image, then each marked object, then how the marked objects relate to each other.",
    "gui": "This is a screenshot of a website or an app. Describe the screen, then what each marked element is and does, then how they are arranged.",
    "ocr": "This image contains text. Describe the scene, then read the text of each mark exactly, then how the marked texts relate.",
    "document": "This is a document page. Describe the page, then the content and role of each marked region, then the page's structure.",
    "multipanel": "This image has several panels. Describe the whole figure, then each marked panel, then how the panels relate.",
}  # fmt: skip
